import Foundation
import MBDistributed
@testable import MBTrain
import MBTestSupport
import XCTest

/// Several trainers in one process, one per rank of a `ThreadWorld`: what the ranks must agree on
/// (a resumed checkpoint, averaged BatchNorm statistics, a stop, a divergence) without `mpirun`.
final class MultiRankTrainingTests: XCTestCase {
    let ranks = 3
    /// 12 images per step (4 per rank of 3), 5 steps per epoch.
    let shared = ["optim.global_batch=12"]

    func trainer(in directory: String, world: Communicator, stopSignal: StopSignal = StopSwitch(raisedFromStep: nil),
                 overrides: [String] = []) throws -> Trainer {
        try syntheticTrainer(directory: directory, world: world, stopSignal: stopSignal, overrides: shared + overrides)
    }

    /// Every rank's result; the test fails naming a rank that threw.
    func values<T>(_ results: [Result<T, Error>], file: StaticString = #filePath, line: UInt = #line) -> [T] {
        results.enumerated().compactMap { rank, result in
            do { return try result.get() } catch {
                XCTFail("rank \(rank) threw: \(error)", file: file, line: line)
                return nil
            }
        }
    }

    func testResumeGivesEveryRankTheCheckpointRankZeroRead() throws {
        let dir = try temporaryDirectory(for: self)
        let writer = try trainer(in: dir + "/written", world: SingleProcess())
        XCTAssertEqual(try writer.train(maxSteps: 3, events: { _ in }), .finished(step: 3))
        let path = CheckpointDirectory(runDirectory: dir + "/written").periodic(step: 3)

        let resumed = values(ThreadWorld(size: ranks).run { world -> (step: Int, notice: String?, replica: Replica) in
            let t = try self.trainer(in: dir + "/resumed", world: world)
            t.scramble(seed: world.rank)   // each rank starts from its own values
            let notice = try t.resume(from: path)
            return (t.currentStep, notice, t.replica)
        })
        XCTAssertEqual(resumed.count, ranks)
        for (rank, r) in resumed.enumerated() {
            XCTAssertEqual(r.step, 3, "rank \(rank)")
            XCTAssertTrue(r.notice?.contains("written by 1 ranks and this run has 3") ?? false, "rank \(rank): \(r.notice ?? "no notice")")
            XCTAssertTrue(r.replica == writer.replica, "rank \(rank) does not hold the checkpoint's parameters, statistics and momentum")
        }
    }

    func testAFailedReadOnRankZeroFailsEveryRankWithRankZerosError() throws {
        let dir = try temporaryDirectory(for: self)
        let writer = try trainer(in: dir + "/written", world: SingleProcess())
        XCTAssertEqual(try writer.train(maxSteps: 1, events: { _ in }), .finished(step: 1))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: CheckpointDirectory(runDirectory: dir + "/written").periodic(step: 1)))
        let truncated = dir + "/truncated.safetensors"
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: truncated))

        let results = ThreadWorld(size: ranks).run { world -> Void in
            try self.trainer(in: dir + "/resumed", world: world).resume(from: truncated)
        }
        let messages = results.map { result -> String in
            guard case .failure(let error) = result else { return "no error" }
            return (error as? CheckpointError)?.message ?? "not a CheckpointError: \(error)"
        }
        XCTAssertTrue(messages[0].contains("truncated"), messages[0])
        XCTAssertEqual(messages, Array(repeating: messages[0], count: ranks))
    }

    /// `withAveragedRunningStatistics` (around every evaluation and checkpoint) gives each rank the
    /// mean of the ranks' statistics, then each rank its own back.
    func testRunningStatisticsAreTheMeanOfTheRanksForEvaluationAndCheckpoints() throws {
        let dir = try temporaryDirectory(for: self)
        let statistics = values(ThreadWorld(size: ranks).run { world -> (own: [Float], averaged: [Float], after: [Float]) in
            let t = try self.trainer(in: dir, world: world)
            // A training forward on this rank's own images moves its running statistics.
            let images = (0..<4 * 64).map { Float(sin(Double($0 * (world.rank + 2)) * 0.37)) }
            images.withUnsafeBufferPointer { _ = t.model.forward(images: $0.baseAddress!, count: 4, training: true) }
            let own = t.model.state.values.floats
            let averaged = try t.withAveragedRunningStatistics { t.model.state.values.floats }
            return (own, averaged, t.model.state.values.floats)
        })
        XCTAssertEqual(statistics.count, ranks)
        let own = statistics.map(\.own)
        XCTAssertNotEqual(own[0], own[1], "the ranks' statistics differ before averaging")
        assertMean(of: own, equals: statistics.map(\.averaged))
        XCTAssertEqual(Set(statistics.map { $0.averaged.map(\.bitPattern) }).count, 1, "every rank holds the same averages")
        XCTAssertEqual(statistics.map(\.after), own, "each rank has its own statistics back")
    }

    /// Every element of each of `averages` is the mean of that element over `perRank`.
    func assertMean(of perRank: [[Float]], equals averages: [[Float]], file: StaticString = #filePath, line: UInt = #line) {
        for i in perRank[0].indices {
            let mean = perRank.map { Double($0[i]) }.reduce(0, +) / Double(perRank.count)
            for (rank, average) in averages.enumerated() where abs(Double(average[i]) - mean) > 1e-6 * max(1, abs(mean)) {
                return XCTFail("element \(i) is \(average[i]) on rank \(rank), the mean is \(mean)", file: file, line: line)
            }
        }
    }

    func testAStopOnOneRankStopsEveryRankAtTheSameStepWithACheckpoint() throws {
        let dir = try temporaryDirectory(for: self)
        let stopped = values(ThreadWorld(size: ranks).run { world -> (TrainingOutcome, Replica) in
            let t = try self.trainer(in: dir, world: world, stopSignal: StopSwitch(raisedFromStep: world.rank == 1 ? 3 : nil))
            return (try t.train(events: { _ in }), t.replica)
        })
        let checkpoint = CheckpointDirectory(runDirectory: dir).periodic(step: 3)
        XCTAssertEqual(stopped.map(\.0), Array(repeating: .interrupted(step: 3, checkpoint: checkpoint), count: ranks))
        // The ranks trained on different images but stopped as one: the same parameters and
        // momentum; each rank its own running statistics.
        let replicas = stopped.map(\.1)
        XCTAssertTrue(replicas.allSatisfy { $0.parameters == replicas[0].parameters && $0.momentum == replicas[0].momentum },
                      "the replicas differ after the stop")
        XCTAssertNotEqual(replicas[0].statistics, replicas[1].statistics)

        // The checkpoint holds the mean of the ranks' statistics and each rank's own.
        let reader = try syntheticTrainer(directory: dir + "/reader", overrides: shared)
        let written = try Checkpoint.read(from: checkpoint, into: reader.model, momentum: nil)
        let perRank = replicas.map { $0.statistics.map(Float.init(bitPattern:)) }
        assertMean(of: perRank, equals: [reader.model.state.values.floats])
        XCTAssertEqual(written.statisticsByRank, perRank.flatMap { $0 })

        // Resumed on as many ranks, every rank is where it stopped, its own statistics included.
        let resumed = values(ThreadWorld(size: ranks).run { world -> Replica in
            let t = try self.trainer(in: dir + "/resumed", world: world)
            try t.resume(from: checkpoint)
            return t.replica
        })
        XCTAssertTrue(resumed == replicas, "a resumed rank differs from the rank that stopped")
    }

    func testAPerturbedRankFailsEveryRankNamingIt() throws {
        let dir = try temporaryDirectory(for: self)
        let results = ThreadWorld(size: ranks).run { world -> TrainingOutcome in
            let t = try self.trainer(in: dir, world: world, overrides: ["log.checksum_every_steps=1"])
            if world.rank == 2 {
                t.model.parameters.values.pointer[0] += 0.25
                t.model.parametersChanged()
            }
            return try t.train(events: { _ in })
        }
        let messages = results.map { result -> String in
            guard case .failure(let error) = result else { return "no error" }
            return (error as? TrainingError)?.message ?? "not a TrainingError: \(error)"
        }
        XCTAssertTrue(messages[0].hasPrefix("the parameters of rank(s) 2 differ from rank 0's after step 1;"), messages[0])
        XCTAssertEqual(messages, Array(repeating: messages[0], count: ranks))
    }
}
