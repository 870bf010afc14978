@testable import MBTrain
import XCTest

/// The step-boundary policy on its own: which steps evaluate and which checkpoints they write.
final class StepBoundaryTests: XCTestCase {
    /// 4 steps per epoch; SGDR cycles of 1 and 2 epochs end after steps 4 and 12.
    let schedule = SGDRSchedule(lrMax: 0.1, lrMin: 0, t0Epochs: 1, tMult: 2, boundaries: .mcdonnell, stepsPerEpoch: 4)

    func config(evalEvery: Int = 2, checkpointEvery: Int = 2, keepBest: Bool = true) -> TrainingConfig {
        var c = TrainingConfig()
        c.log.evalEveryEpochs = evalEvery
        c.checkpoint.everyEpochs = checkpointEvery
        c.checkpoint.keepBest = keepBest
        return c
    }

    func boundary(after step: Int, lastStep: Int = 12, stopping: Bool = false, config c: TrainingConfig? = nil) -> StepBoundary {
        StepBoundary(afterStep: step, lastStep: lastStep, stopping: stopping, schedule: schedule, config: c ?? config())
    }

    func testMidEpochStepsDoNothing() {
        for step in [1, 2, 3, 5, 7, 9, 11] {
            let b = boundary(after: step)
            XCTAssertFalse(b.endsEpoch, "\(step)")
            XCTAssertFalse(b.evaluate, "\(step)")
            XCTAssertEqual(b.checkpoints, [], "\(step)")
            XCTAssertFalse(b.averagesStatistics, "\(step)")
            XCTAssertEqual(b.epoch, step / 4)
        }
    }

    func testACycleEndEvaluatesAndKeepsItsCheckpointOffTheEvaluationPeriod() {
        // Epoch 1 is not on eval_every_epochs 2 nor on checkpoint.every_epochs 2, but cycle 0 ends.
        let b = boundary(after: 4)
        XCTAssertEqual(b.epoch, 1)
        XCTAssertTrue(b.endsEpoch)
        XCTAssertTrue(b.evaluate)
        XCTAssertEqual(b.checkpoints, [.bestIfImproved, .cycleEnd(cycle: 0)])
        XCTAssertTrue(b.averagesStatistics)
    }

    func testAnEpochOnThePeriodEvaluatesAndWritesAPeriodicCheckpoint() {
        let b = boundary(after: 8)
        XCTAssertEqual(b.epoch, 2)
        XCTAssertTrue(b.evaluate)
        XCTAssertEqual(b.checkpoints, [.bestIfImproved, .step(reason: .periodic)])
        // Every epoch evaluated, checkpoints every 2: epoch 3 (no cycle end when the cycles are longer)
        // evaluates without a step checkpoint.
        let longCycles = SGDRSchedule(lrMax: 0.1, lrMin: 0, t0Epochs: 8, tMult: 1, boundaries: .mcdonnell, stepsPerEpoch: 4)
        let odd = StepBoundary(afterStep: 12, lastStep: 32, stopping: false, schedule: longCycles,
                               config: config(evalEvery: 1, checkpointEvery: 2))
        XCTAssertTrue(odd.evaluate)
        XCTAssertEqual(odd.checkpoints, [.bestIfImproved])
        // Off both periods and no cycle end: an epoch end with nothing to do.
        let quiet = StepBoundary(afterStep: 12, lastStep: 32, stopping: false, schedule: longCycles, config: config())
        XCTAssertTrue(quiet.endsEpoch)
        XCTAssertFalse(quiet.evaluate)
        XCTAssertEqual(quiet.checkpoints, [])
        XCTAssertFalse(quiet.averagesStatistics)
    }

    func testTheLastStepAtACycleEndWritesOnlyTheCycleCheckpoint() {
        let b = boundary(after: 12)
        XCTAssertTrue(b.evaluate)
        XCTAssertEqual(b.checkpoints, [.bestIfImproved, .cycleEnd(cycle: 1)])
    }

    func testALastStepMidEpochEvaluatesAndWritesAStepCheckpoint() {
        // --max-steps 6: the run ends inside epoch 1.
        let b = boundary(after: 6, lastStep: 6)
        XCTAssertFalse(b.endsEpoch)
        XCTAssertTrue(b.evaluate)
        XCTAssertEqual(b.checkpoints, [.bestIfImproved, .step(reason: .last)])
    }

    func testAStopWritesOneStepCheckpointWithoutEvaluating() {
        let mid = boundary(after: 6, stopping: true)
        XCTAssertFalse(mid.evaluate)
        XCTAssertEqual(mid.checkpoints, [.step(reason: .stop)])
        XCTAssertTrue(mid.averagesStatistics)
        // On a periodic epoch end the stop and the period share the one step checkpoint.
        XCTAssertEqual(boundary(after: 8, stopping: true).checkpoints, [.bestIfImproved, .step(reason: .stop)])
        // At a cycle end a stop still writes a step checkpoint, the newest file the run leaves.
        XCTAssertEqual(boundary(after: 4, stopping: true).checkpoints, [.bestIfImproved, .cycleEnd(cycle: 0), .step(reason: .stop)])
    }

    func testWithoutKeepBestNoBestCheckpoint() {
        let b = boundary(after: 8, config: config(keepBest: false))
        XCTAssertTrue(b.evaluate)
        XCTAssertEqual(b.checkpoints, [.step(reason: .periodic)])
    }
}
