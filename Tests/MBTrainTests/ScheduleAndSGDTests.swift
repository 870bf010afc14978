import Foundation
import XCTest
@testable import MBTrain

/// The PyTorch reference written by Fixtures/make_sgdr_table.py.
struct Reference: Decodable {
    struct Table: Decodable {
        let lr_max, lr_min: Double
        let t0_epochs, t_mult, steps_per_epoch, epochs: Int
        let boundaries: String
        let lrs: [Double]
    }
    struct SGDSteps: Decodable {
        let momentum, weight_decay: Float
        let decayed: [Int]
        let initial: [Float]
        let lrs: [Float]
        let grads, values: [[Float]]
    }
    let sgdr: [Table]
    let sgd: SGDSteps

    static func load() throws -> Reference {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sgdr_sgd_reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }
}

final class SGDRScheduleTests: XCTestCase {
    func testMatchesPyTorchCosineAnnealingWarmRestartsStepwise() throws {
        for table in try Reference.load().sgdr {
            let schedule = SGDRSchedule(lrMax: table.lr_max, lrMin: table.lr_min, t0Epochs: table.t0_epochs,
                                        tMult: table.t_mult, boundaries: CycleBoundaries(rawValue: table.boundaries)!,
                                        stepsPerEpoch: table.steps_per_epoch)
            XCTAssertEqual(table.lrs.count, table.epochs * table.steps_per_epoch)
            for (step, expected) in table.lrs.enumerated() {
                XCTAssertEqual(schedule.learningRate(atStep: step), expected, accuracy: 1e-12,
                               "step \(step) of \(table.boundaries) T0=\(table.t0_epochs) Tmult=\(table.t_mult)")
            }
        }
    }

    /// A warm-up of E epochs: lr_min at step 0, then a straight line to the cosine's value, which
    /// it meets at step E·stepsPerEpoch and follows from there.
    func testWarmupRisesLinearlyFromLrMinToTheCosine() {
        let plain = SGDRSchedule(lrMax: 0.4, lrMin: 4e-4, t0Epochs: 2, tMult: 2, boundaries: .powerOfTwo, stepsPerEpoch: 10)
        var warm = plain
        warm.warmupEpochs = 3
        XCTAssertEqual(warm.learningRate(atStep: 0), 4e-4)
        for step in 1..<30 {
            let fraction = Double(step) / 30
            XCTAssertEqual(warm.learningRate(atStep: step), 4e-4 + (plain.learningRate(atStep: step) - 4e-4) * fraction,
                           accuracy: 1e-15, "step \(step)")
            XCTAssertLessThan(warm.learningRate(atStep: step), plain.learningRate(atStep: step), "step \(step)")
        }
        for step in 30..<80 { XCTAssertEqual(warm.learningRate(atStep: step), plain.learningRate(atStep: step), "step \(step)") }
    }

    func testBudgetsCyclesAndCycleEnds() {
        let mcdonnell = SGDRSchedule(lrMax: 0.1, lrMin: 1e-4, t0Epochs: 2, tMult: 2, boundaries: .mcdonnell, stepsPerEpoch: 10)
        XCTAssertEqual((0..<4).map(mcdonnell.periodEpochs(ofCycle:)), [2, 4, 8, 16])
        XCTAssertEqual(mcdonnell.cycles(endingAt: 30), 4)
        XCTAssertEqual(mcdonnell.cycles(endingAt: 254), 7)
        XCTAssertNil(mcdonnell.cycles(endingAt: 32))
        XCTAssertEqual(mcdonnell.totalSteps(cycles: 4), 300)
        let ends = (0..<300).filter(mcdonnell.isLastStepOfCycle)
        XCTAssertEqual(ends, [19, 59, 139, 299])
        XCTAssertEqual([0, 19, 20, 59, 60, 299].map(mcdonnell.cycle(ofStep:)), [0, 0, 1, 1, 2, 3])
        XCTAssertEqual(mcdonnell.learningRate(atStep: 20), 0.1, "the first step of a cycle restarts at lr_max")

        let powerOfTwo = SGDRSchedule(lrMax: 0.1, lrMin: 1e-4, t0Epochs: 2, tMult: 2, boundaries: .powerOfTwo, stepsPerEpoch: 10)
        XCTAssertEqual((0..<5).map(powerOfTwo.periodEpochs(ofCycle:)), [2, 2, 4, 8, 16])
        XCTAssertEqual(powerOfTwo.cycles(endingAt: 32), 5)
        XCTAssertEqual(powerOfTwo.cycles(endingAt: 256), 8)
        XCTAssertEqual((0..<320).filter(powerOfTwo.isLastStepOfCycle), [19, 39, 79, 159, 319])
    }
}

final class SGDTests: XCTestCase {
    func testMatchesPyTorchSGDWithWeightDecayOnOneRange() throws {
        let ref = try Reference.load().sgd
        let sgd = SGD(momentum: ref.momentum, weightDecay: ref.weight_decay, decayed: [ref.decayed[0]..<ref.decayed[1]])
        var values = ref.initial
        var velocity = [Float](repeating: 0, count: values.count)
        for (i, lr) in ref.lrs.enumerated() {
            sgd.step(values: &values, grads: ref.grads[i], velocity: &velocity, count: values.count, lr: lr)
            for (got, expected) in zip(values, ref.values[i]) {
                XCTAssertEqual(got, expected, accuracy: 2e-7 * max(1, abs(expected)), "step \(i)")
            }
        }
    }

    func testGradScaleAveragesASummedGradient() {
        let sgd = SGD(momentum: 0.9, weightDecay: 0.01, decayed: [0..<3])
        var a: [Float] = [1, -2, 3], b = a
        var va = [Float](repeating: 0, count: 3), vb = va
        for _ in 0..<3 {
            sgd.step(values: &a, grads: [0.5, 0.25, -1], velocity: &va, count: 3, lr: 0.1)
            sgd.step(values: &b, grads: [1, 0.5, -2], velocity: &vb, count: 3, lr: 0.1, gradScale: 0.5)
        }
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, [1, -2, 3])
    }

    func testNoDecayOutsideTheRanges() {
        let sgd = SGD(momentum: 0.9, weightDecay: 0.5, decayed: [1..<2])
        var w: [Float] = [1, 1, 1]
        var v: [Float] = [0, 0, 0]
        sgd.step(values: &w, grads: [0, 0, 0], velocity: &v, count: 3, lr: 0.1)
        XCTAssertEqual(w, [1, 0.95, 1])
        XCTAssertEqual(v, [0, 0.5, 0])
    }
}
