import Foundation
@testable import MBTrain
import MBTestSupport
import XCTest

/// `export`, `eval --model` and `predict` as a user runs them, on a small model trained on MNIST.
final class ExportCommandTests: XCTestCase, CommandRunning {
    var images: String { repositoryRoot + "/Tests/MBDeployTests/Fixtures" }

    /// Trains the tiny model for 128 steps and exports its checkpoint; returns (checkpoint, export).
    func trainAndExport(in dir: String) throws -> (String, String) {
        let config = dir + "/tiny.yaml"
        try """
        model: {in_channels: 1, image_size: 28, classes: 10, widths: [8, 8, 16], layers: 2, k: 2, stem_channels: 8}
        data: {dataset: mnist, root: \(repositoryRoot)/data, flip: false, train_limit: 8192, test_limit: 2001, eval_batch: 100}
        optim: {global_batch: 64}
        schedule: {t0_epochs: 1, epochs: 1}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let trained = try run(try binary(), ["--config", config, "--run-dir", dir + "/run"], timeout: 300, directory: dir)
        XCTAssertEqual(trained.status, 0, trained.output)
        let checkpoint = CheckpointDirectory(runDirectory: dir + "/run").periodic(step: 128)
        let exported = try run(try binary(), ["export", "--checkpoint", checkpoint, "--output", dir + "/model.safetensors"])
        XCTAssertEqual(exported.status, 0, exported.output)
        for line in ["exported \(dir)/model.safetensors", "checkpoint ", "float32 weights ", "exported model ", "ratio "] {
            XCTAssertTrue(exported.output.contains(line), "`\(line)` missing from:\n\(exported.output)")
        }
        return (checkpoint, dir + "/model.safetensors")
    }

    func json(_ output: String) -> [String: Any] {
        let text = output.split(separator: "\n").drop { !$0.hasPrefix("{") && !$0.hasPrefix("[") }.joined(separator: "\n")
        return ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:]
    }

    /// `eval --model` scores the test split from the file alone exactly as `eval --checkpoint`
    /// scores the checkpoint it came from (the same top-1 and top-5 counts; the loss to float
    /// rounding), also sharded over two ranks; `predict` reads every PNG colour type of the same
    /// digit to the same answer; bad input is one line and exit 2.
    func testExportEvalAndPredictFromTheFileAlone() throws {
        let dir = try temporaryDirectory(for: self), binary = try binary()
        let (checkpoint, model) = try trainAndExport(in: dir)
        let byCheckpoint = try run(binary, ["eval", "--checkpoint", checkpoint, "--json"])
        let byModel = try run(binary, ["eval", "--model", model, "--json"])
        XCTAssertEqual(byCheckpoint.status, 0, byCheckpoint.output)
        XCTAssertEqual(byModel.status, 0, byModel.output)
        let a = json(byCheckpoint.output), b = json(byModel.output)
        XCTAssertEqual(a["test_top1"] as? Double, b["test_top1"] as? Double)
        XCTAssertEqual(a["test_top5"] as? Double, b["test_top5"] as? Double)
        XCTAssertEqual(a["test_loss"] as! Double, b["test_loss"] as! Double, accuracy: 1e-5)
        XCTAssertGreaterThan(b["test_top1"] as! Double, 0.4, "the model learned (chance 0.1)")
        if let mpirun = try? mpirun() {
            let sharded = try run(mpirun, ["-np", "2", "--oversubscribe", binary, "eval", "--model", model, "--json"])
            XCTAssertEqual(sharded.status, 0, sharded.output)
            XCTAssertEqual(json(sharded.output)["test_top1"] as? Double, b["test_top1"] as? Double)
        }

        let names = ["gray", "ga", "rgb", "palette", "rgba"].map { "\(images)/digit-\($0).png" }
        let predicted = try run(binary, ["predict", "--model", model, "--json"] + names)
        XCTAssertEqual(predicted.status, 0, predicted.output)
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(predicted.output.utf8)) as? [[String: Any]], predicted.output)
        XCTAssertEqual(list.map { $0["image"] as? String }, names)
        let tops = list.map { ($0["top"] as? [[String: Any]]) ?? [] }
        XCTAssertEqual(tops.map(\.count), [5, 5, 5, 5, 5])
        for top in tops {
            XCTAssertEqual(top.map { $0["class"] as? String }, tops[0].map { $0["class"] as? String }, "the same pixels, the same answer")
            let p = top.map { $0["probability"] as! Double }
            XCTAssertEqual(p, p.sorted(by: >))
            XCTAssertLessThanOrEqual(p.reduce(0, +), 1 + 1e-9)
        }
        let text = try run(binary, ["predict", "--model", model, names[0]])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.output.hasPrefix(names[0] + "\n  1. "), text.output)

        for (args, words) in [(["eval", "--model", checkpoint], ["training checkpoint", "eval --checkpoint"]),
                              (["predict", "--model", checkpoint, names[0]], ["training checkpoint"]),
                              (["eval", "--model", dir + "/tiny.yaml"], ["not a valid safetensors file"]),
                              (["eval", "--model", model, "--set", "data.dataset=synthetic"], ["test split has 3x32x32 images", "takes 1x28x28"]),
                              (["predict", "--model", model, images + "/small.png"], ["16x16", "28x28"]),
                              (["predict", "--model", model, images + "/colour.png"], ["grayscale"]),
                              (["predict", "--model", model, names[0], images + "/deep.png"], ["bit depth 16"]),
                              (["predict", "--model", model, dir + "/tiny.yaml"], ["not a PNG or JPEG file"])] {
            let r = try run(binary, args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.output)")
            XCTAssertEqual(r.output.split(separator: "\n").count, 1, "\(args): one line expected: \(r.output)")
            XCTAssertTrue(r.output.hasPrefix("error: "), r.output)
            for w in words { XCTAssertTrue(r.output.contains(w), "\(args): `\(r.output)` lacks `\(w)`") }
        }
    }
}
