import Foundation
import MBTestSupport
@testable import MBTrain
import XCTest

/// Training writes TensorBoard scalars, read back by TensorBoard's own reader.
final class TensorBoardCommandTests: XCTestCase, CommandRunning {
    /// A real run, stopped at step 20 and resumed: two event files, each step once, the test
    /// scalars equal to eval.jsonl's. 1,024 MNIST images, 16 steps of 64 per epoch, 48 steps.
    func testTrainingWritesScalarsAcrossAResume() throws {
        let binary = try binary(), dir = try temporaryDirectory(for: self)
        let config = dir + "/small.yaml"
        try """
        model: {in_channels: 1, image_size: 28, classes: 10, widths: [8, 8, 16], layers: 2, k: 2, stem_channels: 8}
        data: {dataset: mnist, root: \(repositoryRoot)/data, flip: false, train_limit: 1024, test_limit: 500}
        optim: {global_batch: 64}
        schedule: {t0_epochs: 1, t_mult: 2, epochs: 3}
        log: {print_every_steps: 1}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let run1 = try run(binary, ["--config", config, "--run-dir", dir + "/run", "--max-steps", "20"], timeout: 300, directory: dir)
        XCTAssertEqual(run1.status, 0, run1.output)
        let run2 = try run(binary, ["--config", config, "--run-dir", dir + "/run", "--resume", "auto"], timeout: 300, directory: dir)
        XCTAssertEqual(run2.status, 0, run2.output)
        XCTAssertEqual(TensorBoardWriter.eventFiles(in: dir + "/run/tensorboard").count, 2)
        let scalars = try tensorBoardScalars(dir + "/run/tensorboard")
        XCTAssertEqual(scalars["train/loss"]?.map { Int($0[0]) }, Array(1...48))   // log.print_every_steps: 1
        let records = EvalLog(runDirectory: dir + "/run").records()
        XCTAssertEqual(scalars["test/top1"]?.map { Int($0[0]) }, records.map(\.step))
        for (point, record) in zip(scalars["test/top1"]!, records) { XCTAssertEqual(point[1], record.testTop1, accuracy: 1e-6) }
    }
}
