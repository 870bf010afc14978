import Foundation
import MBCore
import MBDistributed
import MBTestSupport
@testable import MBTrain
import XCTest

/// A checkpoint's checksum covers its metadata, and the metadata is range-checked before use even
/// when the checksum matches (a file rewritten consistently): an edited step, seed, world size or
/// score is one CheckpointError naming the key, never a trap on any rank. `eval` takes the data
/// root from the command line, not from the checkpoint, and bounds the recorded config like any other.
final class CheckpointMetadataTests: XCTestCase, CommandRunning {
    let yaml = """
        model: {in_channels: 1, image_size: 8, classes: 4, widths: [4, 4], layers: 2, k: 2, stem_channels: 4}
        data: {dataset: synthetic, synthetic_shape: [1, 8, 8], classes: 4, synthetic_train_count: 64, synthetic_test_count: 16}
        optim: {global_batch: 16}
        schedule: {t0_epochs: 1, epochs: 1}
        log: {print_every_steps: 100}
        """

    func trainer(in directory: String) throws -> Trainer {
        let run = try RunConfig(tree: try ConfigValue.parse(yaml: yaml, source: "test"))
        return try Trainer(config: run, runDirectory: directory, world: SingleProcess())
    }

    /// A 4-step run's last checkpoint, in a fresh directory; returns (directory, checkpoint).
    func trainedCheckpoint() throws -> (String, String) {
        let dir = try temporaryDirectory(for: self)
        let t = try trainer(in: dir + "/run")
        try t.initialize()
        try t.prepareRunDirectory()
        XCTAssertEqual(try t.train(events: { _ in }), .finished(step: 4))
        return (dir, CheckpointDirectory(runDirectory: dir + "/run").periodic(step: 4))
    }

    /// A copy of `path` whose metadata `change` edits; its checksum is recomputed when `consistent`.
    func edited(_ path: String, _ name: String, consistent: Bool = true, _ change: (inout [String: String]) -> Void) throws -> String {
        var file = try SafeTensors(contentsOf: path)
        change(&file.metadata)
        if consistent { file.metadata["checksum"] = file.checksum }
        let copy = (path as NSString).deletingLastPathComponent + "/" + name + ".safetensors"
        try file.write(to: copy)
        return copy
    }

    func assertRefused(_ body: @autoclosure () throws -> some Any, _ words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertTrue(error is CheckpointError || error is ConfigError, "\(type(of: error)): \(error)", line: line)
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text, line: line)
            for w in words { XCTAssertTrue(text.contains(w), "`\(text)` lacks `\(w)`", line: line) }
        }
    }

    func testAnEditedValueFailsTheChecksum() throws {
        let (dir, checkpoint) = try trainedCheckpoint()
        for (key, value) in [("global_step", "-5"), ("seed", "9223372036854775807"), ("world_size", "0"), ("best_top1", "2"),
                             ("config", "model: {widths: [65536]}"), ("class_names", "x"), ("input_mean", "0")] {
            let path = try edited(checkpoint, "unchecked-\(key)", consistent: false) { $0[key] = value }
            assertRefused(try trainer(in: dir + "/r-\(key)").resume(from: path), ["fails its checksum", "metadata"])
        }
        let gone = try edited(checkpoint, "no-checksum", consistent: false) { $0["checksum"] = nil }
        assertRefused(try trainer(in: dir + "/r").resume(from: gone), ["fails its checksum"])
        assertRefused(try Checkpoint.config(of: gone), ["fails its checksum"])
    }

    func testOutOfRangeMetadataIsRefusedEvenWithAMatchingChecksum() throws {
        let (dir, checkpoint) = try trainedCheckpoint()
        let rows: [(key: String, value: String?, words: [String])] = [
            ("global_step", "-5", ["`global_step` `-5`", "0...9007199254740992"]),
            ("global_step", "9223372036854775807", ["`global_step`"]),
            ("global_step", "9223372036854775808", ["`global_step`"]),
            ("global_step", "four", ["`global_step` `four`"]),
            ("global_step", nil, ["`global_step` missing"]),
            ("epoch", "-1", ["`epoch` `-1`", "0...4"]),
            ("epoch", "5", ["`epoch` `5`"]),
            ("world_size", "0", ["`world_size` `0`", "1...1048576"]),
            ("world_size", "1048577", ["`world_size`"]),
            ("world_size", "-2", ["`world_size`"]),
            ("seed", "9223372036854775807", ["`seed`", "0...4294967295"]),
            ("seed", "-1", ["`seed`"]),
            ("best_top1", "2", ["`best_top1` `2`", "0.0...1.0"]),
            ("best_top1", "-0.5", ["`best_top1`"]),
            ("best_top1", "nan", ["`best_top1`"]),
            ("elapsed_seconds", "-1", ["`elapsed_seconds`"]),
            ("elapsed_seconds", "inf", ["`elapsed_seconds`"]),
            ("elapsed_seconds", nil, ["`elapsed_seconds` missing"]),
            ("input_mean", "0.5 0.5", ["input_mean", "1 finite numbers"]),
            ("input_mean", "nan", ["input_mean"]),
            ("input_std", "0", ["input_std", "above 0"]),
            ("input_std", "-1", ["input_std"]),
            ("input_std", nil, ["input_std"]),
            ("format_version", "1", ["format version 1", "does not cover its metadata", "reads version 2"]),
            ("format_version", "3", ["format version 3"]),
            ("format_version", nil, ["format version ?"]),
            ("format", "safetensors", ["not an mbc training checkpoint"]),
        ]
        for (n, row) in rows.enumerated() {
            let path = try edited(checkpoint, "bad-\(n)") { $0[row.key] = row.value }
            assertRefused(try trainer(in: dir + "/r\(n)").resume(from: path), [path] + row.words)
        }
        // In range but not this run's: past its budget, or another seed.
        let late = try edited(checkpoint, "late") { $0["global_step"] = "400"; $0["epoch"] = "100" }
        assertRefused(try trainer(in: dir + "/late").resume(from: late), ["step 400", "past this run's 4 steps"])
        let seeded = try edited(checkpoint, "seeded") { $0["seed"] = "4294967295" }
        assertRefused(try trainer(in: dir + "/seeded").resume(from: seeded), ["seed 4294967295", "the config says 0"])
    }

    func testEvalTakesTheDataRootFromTheCommandLineAndBoundsTheRecordedConfig() throws {
        let (_, checkpoint) = try trainedCheckpoint()
        let recorded = try Checkpoint.config(of: checkpoint)
        let elsewhere = try edited(checkpoint, "etc") { $0["config"] = recorded.replacingOccurrences(of: "root: data", with: "root: /etc") }
        XCTAssertTrue(try Checkpoint.config(of: elsewhere).contains("root: /etc"))
        XCTAssertEqual(try RunConfig.recorded(in: elsewhere).data.root, "data")
        XCTAssertEqual(try RunConfig.recorded(in: elsewhere, overrides: ["data.root=/datasets"]).data.root, "/datasets")
        for (name, config, words) in [
            ("wide", recorded.replacingOccurrences(of: "widths: [4, 4]", with: "widths: [65536, 65536]"), ["recorded config", "needs an estimated"]),
            ("batch", recorded.replacingOccurrences(of: "eval_batch: 256", with: "eval_batch: 1000000000000"), ["needs an estimated", "data.eval_batch"]),
            ("t_mult", recorded.replacingOccurrences(of: "t_mult: 2", with: "t_mult: 9223372036854775807"), ["schedule.t_mult", "at most 1000"]),
            ("yaml", "model: {widths: [4", ["recorded config", "not valid YAML"]),
            ("list", "- 1\n- 2\n", ["recorded config", "top level"]),
        ] {
            XCTAssertNotEqual(config, recorded, name)
            let path = try edited(checkpoint, name) { $0["config"] = config }
            assertRefused(try RunConfig.recorded(in: path), words)
        }
        let none = try edited(checkpoint, "no-config") { $0["config"] = nil }
        assertRefused(try RunConfig.recorded(in: none), ["records no config", "--config"])
        assertRefused(try RunConfig.recorded(in: "/dev/zero"), ["/dev/zero", "not a regular file"])
    }

    /// Under mpirun, a checkpoint whose step was edited (checksum rewritten to match) is one line and
    /// exit 2 from the run, on both ranks, with no trap; so is an old format.
    func testBadMetadataUnderMPIIsOneLineAndExitCode2() throws {
        let mpirun = try mpirun(), binary = try binary()
        let (dir, checkpoint) = try trainedCheckpoint()
        try yaml.write(toFile: dir + "/tiny.yaml", atomically: true, encoding: .utf8)
        for (name, change) in [("negative", { (m: inout [String: String]) in m["global_step"] = "-5" }),
                               ("huge", { (m: inout [String: String]) in m["global_step"] = "9223372036854775807" }),
                               ("seed", { (m: inout [String: String]) in m["seed"] = "9223372036854775807" })] {
            let path = try edited(checkpoint, name, change)
            let r = try run(mpirun, ["-np", "2", "--oversubscribe", binary, "--config", dir + "/tiny.yaml", "--run-dir", dir + "/mpi-\(name)",
                                     "--resume", path], timeout: 120, directory: dir)
            XCTAssertEqual(r.status, 2, r.output)
            let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("error: ") }
            XCTAssertEqual(errors.count, 1, r.output)
            XCTAssertTrue(errors.first?.contains(path) ?? false, r.output)
            XCTAssertFalse(r.output.contains("Fatal error") || r.output.contains("Backtrac"), r.output)
        }
    }
}
