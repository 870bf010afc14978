import Foundation
@testable import MBTrain
import MBTestSupport
import XCTest

/// The TensorBoard event files, read back by mbc and by TensorBoard's own reader.
final class TensorBoardTests: XCTestCase, CommandRunning {
    func progress(_ step: Int) -> TrainingEvent {
        .progress(step: step, totalSteps: 96, epoch: step / 32, loss: 2.5 - Double(step) / 100, lr: 0.1 / Double(step), imagesPerSecond: 100 + Double(step))
    }

    func evaluated(_ step: Int) -> TrainingEvent {
        .evaluated(EvalRecord(epoch: step / 32, step: step, lr: 0.01, trainLoss: 1, trainTop1: 0.5, testLoss: 1.5 - Double(step) / 100,
                              testTop1: Double(step) / 100, testTop5: 0.99, imagesPerSecond: 100, elapsedSeconds: 10))
    }

    /// An event encodes and frames to bytes that decode to the same event.
    func testEventsReadBackAsWritten() throws {
        let event = TensorBoardEvent(wallTime: 1_700_000_000.25, step: 123_456_789,
                                     scalars: [.init(tag: "train/loss", value: 0.5), .init(tag: "test/top1", value: 0.987)])
        let framed = TFRecord.frame(event.protobuf) + TFRecord.frame(TensorBoardEvent(wallTime: 1, step: 0, fileVersion: "brain.Event:2").protobuf)
        let (records, complete) = TFRecord.records(framed)
        XCTAssertTrue(complete)
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(TensorBoardEvent(protobuf: records[0]), event)
        XCTAssertEqual(TensorBoardEvent(protobuf: records[1])?.fileVersion, "brain.Event:2")
        // A flipped data bit fails the data checksum; a cut record is an incomplete tail.
        var flipped = framed
        flipped[20] ^= 1
        XCTAssertEqual(TFRecord.records(flipped).records.count, 0)
        XCTAssertFalse(TFRecord.records(flipped).complete)
        let cut = TFRecord.records(Array(framed.dropLast(3)))
        XCTAssertEqual(cut.records.count, 1)
        XCTAssertFalse(cut.complete)
    }

    /// TensorBoard reads the scalars mbc writes: every tag, step and value.
    func testTensorBoardReadsTheScalars() throws {
        let dir = try temporaryDirectory(for: self)
        let writer = try TensorBoardWriter(runDirectory: dir)
        for step in stride(from: 20, through: 64, by: 20) { try writer.record(progress(step)) }
        try writer.record(evaluated(32))
        try writer.record(evaluated(64))
        try writer.record(.checkpointed(path: "x"))
        let scalars = try tensorBoardScalars(dir + "/tensorboard")
        XCTAssertEqual(Set(scalars.keys), ["train/loss", "train/lr", "train/images_per_second", "test/loss", "test/top1", "test/top5"])
        XCTAssertEqual(scalars["train/loss"]?.map { $0[0] }, [20, 40, 60])
        XCTAssertEqual(scalars["train/loss"]![1][1], 2.1, accuracy: 1e-6)
        XCTAssertEqual(scalars["train/lr"]![2][1], 0.1 / 60, accuracy: 1e-8)
        XCTAssertEqual(scalars["test/top1"]?.map { $0[0] }, [32, 64])
        XCTAssertEqual(scalars["test/top1"]![1][1], 0.64, accuracy: 1e-6)
        XCTAssertEqual(scalars["test/loss"]![0][1], 1.18, accuracy: 1e-6)
    }

    /// A resumed session writes a second file and no step twice: the first session reached step
    /// 72, the checkpoint it resumes from is at step 64, so steps 65-72 are not written again.
    /// A record cut off by the kill is ignored.
    func testResumeAppendsANewFileWithoutRepeatingSteps() throws {
        let dir = try temporaryDirectory(for: self)
        do {
            let first = try TensorBoardWriter(runDirectory: dir, now: Date(timeIntervalSince1970: 1_700_000_000))
            for step in 1...72 { try first.record(progress(step)) }
            try first.record(evaluated(32))
            try first.record(evaluated(64))
            try first.record(progress(73))
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: first.path))
            try handle.truncate(atOffset: try handle.seekToEnd() - 5)   // step 73's record, cut
            try handle.close()
        }
        let second = try TensorBoardWriter(runDirectory: dir, now: Date(timeIntervalSince1970: 1_700_000_100))
        XCTAssertEqual(second.lastStep["train/loss"], 72)
        XCTAssertEqual(second.lastStep["test/top1"], 64)
        for step in 65...96 { try second.record(progress(step)) }
        for step in [64, 96] { try second.record(evaluated(step)) }
        let files = TensorBoardWriter.eventFiles(in: dir + "/tensorboard")
        XCTAssertEqual(files.count, 2)
        XCTAssertEqual(files.last, second.path)
        XCTAssertEqual(try TensorBoardWriter.events(inFile: files[1]).events.first?.fileVersion, "brain.Event:2")
        XCTAssertEqual(try TensorBoardWriter.events(inFile: files[1]).events.dropFirst().first?.step, 73)
        let scalars = try tensorBoardScalars(dir + "/tensorboard")
        XCTAssertEqual(scalars["train/loss"]?.map { Int($0[0]) }, Array(1...96))
        XCTAssertEqual(scalars["test/top5"]?.map { Int($0[0]) }, [32, 64, 96])
    }
}
