import Foundation
import MBCore
import MBTestSupport
@testable import MBTrain
import XCTest

extension CommandRunning {
    /// Synthetic 3x16x16 images, 4 classes: 8 steps of 32 an epoch, an SGDR cycle and a
    /// checkpoint each epoch. `distributed` is the config's `distributed:` section, if any.
    /// Gradient buckets of 2 KiB (512 floats): the model's ~7,000 gradients make 14 of them, so
    /// many buckets start while backward is still running when the allreduce overlaps.
    func syntheticConfig(in directory: String, epochs: Int, distributed: String = "{bucket_mib: 0.001953125}",
                         name: String = "hosts") throws -> String {
        let path = directory + "/\(name).yaml"
        try """
        model: {in_channels: 3, image_size: 16, classes: 4, widths: [8, 16], layers: 2, k: 2, stem_channels: 8}
        data: {dataset: synthetic, synthetic_shape: [3, 16, 16], classes: 4, synthetic_train_count: 256, synthetic_test_count: 64}
        optim: {global_batch: 32}
        schedule: {t0_epochs: 1, t_mult: 1, epochs: \(epochs)}
        log: {print_every_steps: 1, checksum_every_steps: 4}
        distributed: \(distributed)
        seed: 5
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The newest checkpoints of two run directories are both at `step`, record `worldSize`
    /// ranks, and hold bitwise the same tensors (parameters, momentum, every rank's statistics).
    func assertFinalCheckpointsBitwiseEqual(_ first: String, _ second: String, step: Int, worldSize: Int,
                                            file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try XCTUnwrap(CheckpointDirectory(runDirectory: first).all().last, first, file: file, line: line)
        let b = try XCTUnwrap(CheckpointDirectory(runDirectory: second).all().last, second, file: file, line: line)
        XCTAssertEqual(a.step, step, first, file: file, line: line)
        XCTAssertEqual(b.step, step, second, file: file, line: line)
        let fa = try SafeTensors(contentsOf: a.path), fb = try SafeTensors(contentsOf: b.path)
        XCTAssertEqual(fa.metadata["world_size"], String(worldSize), file: file, line: line)
        XCTAssertEqual(fb.metadata["world_size"], String(worldSize), file: file, line: line)
        let ta = fa.tensors, tb = fb.tensors
        XCTAssertEqual(Set(ta.keys), Set(tb.keys), file: file, line: line)
        XCTAssertNotNil(ta["ranks.running_statistics"], file: file, line: line)
        XCTAssertGreaterThan(ta.count, 50, file: file, line: line)
        for (name, t) in ta {
            XCTAssertEqual(t.bytes, tb[name]?.bytes, "\(name) differs between \(first) and \(second)", file: file, line: line)
        }
    }
}
