import Foundation
import MBCore
import MBDistributed
@testable import MBTrain
import MBTestSupport
import XCTest

/// The Trainer in one process on synthetic data: foreign, truncated and altered checkpoints, a
/// non-finite loss, stop requests.
final class TrainerTests: XCTestCase {
    func testForeignTruncatedAndAlteredCheckpointsAreRefused() throws {
        let dir = try temporaryDirectory(for: self)
        let a = try syntheticTrainer(directory: dir + "/a")
        XCTAssertEqual(try a.train(events: { _ in }), .finished(step: 4))
        let path = CheckpointDirectory(runDirectory: dir + "/a").periodic(step: 4)
        // The same architecture resumes.
        let again = try syntheticTrainer(directory: dir + "/a2")
        XCTAssertNil(try again.resume(from: path))
        XCTAssertEqual(again.currentStep, 4)
        // Another architecture is refused, naming the problem.
        let b = try syntheticTrainer(widths: [4, 8], directory: dir + "/b")
        XCTAssertThrowsError(try b.resume(from: path)) { XCTAssertTrue("\($0)".contains("another model configuration"), "\($0)") }
        // A truncated file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: dir + "/truncated.safetensors"))
        XCTAssertThrowsError(try again.resume(from: dir + "/truncated.safetensors")) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        // One byte of a tensor changed: the checksum catches it.
        var altered = bytes
        altered[altered.count - 5] ^= 0x40
        try altered.write(to: URL(fileURLWithPath: dir + "/altered.safetensors"))
        XCTAssertThrowsError(try again.resume(from: dir + "/altered.safetensors")) { XCTAssertTrue("\($0)".contains("checksum"), "\($0)") }
    }

    /// A non-finite loss stops before the update, names the step and keeps the checkpoints.
    func testNonFiniteLossStopsBeforeTheUpdate() throws {
        let dir = try temporaryDirectory(for: self)
        let t = try syntheticTrainer(directory: dir)
        XCTAssertEqual(try t.train(maxSteps: 2, events: { _ in }), .finished(step: 2))
        let kept = CheckpointDirectory(runDirectory: dir).periodic(step: 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept))
        // Poison one parameter: the next forward gives a NaN loss.
        let p = t.model.parameters
        p.values.pointer[p.infos.first { $0.group == "BatchNorm" }!.offset] = .nan
        t.model.parametersChanged()
        let before = t.replica
        XCTAssertEqual(try t.train(events: { _ in }), .diverged(step: 2))
        XCTAssertEqual(t.replica.parameters, before.parameters, "no update after a non-finite loss")
        XCTAssertEqual(t.replica.momentum, before.momentum, "no update after a non-finite loss")
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept))
    }

    func testStopRequestWritesACheckpointAndStopsAtAStepBoundary() throws {
        let dir = try temporaryDirectory(for: self)
        let t = try syntheticTrainer(directory: dir, stopSignal: StopSwitch(raisedFromStep: 1))
        guard case .interrupted(let step, let checkpoint) = try t.train(events: { _ in }) else { return XCTFail("did not stop") }
        XCTAssertEqual(step, 1)
        XCTAssertEqual(checkpoint, CheckpointDirectory(runDirectory: dir).periodic(step: 1))
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint))
    }

    /// The default stop signal is SIGINT/SIGTERM's flag.
    func testInterruptSignalsReadTheSignalHandlersFlag() {
        XCTAssertFalse(InterruptSignals().isRaised)
        stopRequested = 1
        defer { stopRequested = 0 }
        XCTAssertTrue(InterruptSignals().isRaised)
    }
}

/// A stop request raised from a given step on (the trainer reads it once per step); never when nil.
final class StopSwitch: StopSignal {
    let raisedFromStep: Int?
    private var reads = 0

    init(raisedFromStep: Int?) { self.raisedFromStep = raisedFromStep }

    var isRaised: Bool {
        reads += 1
        return raisedFromStep.map { reads >= $0 } ?? false
    }
}
