import Foundation
@testable import MBTrain
import MBTestSupport
import XCTest

/// What `mbc-train` may write in a run directory: never over an earlier run without --resume,
/// nothing on a failed start, no second history from an older checkpoint, no duplicate rows.
final class RunDirectoryTests: XCTestCase, CommandRunning {
    /// A synthetic run of 2 epochs of 4 steps (an SGDR cycle each), a checkpoint every epoch.
    func config(in directory: String) throws -> String {
        let path = directory + "/tiny.yaml"
        try """
        model: {in_channels: 1, image_size: 8, classes: 4, widths: [4, 4], layers: 2, k: 2, stem_channels: 4}
        data: {dataset: synthetic, synthetic_shape: [1, 8, 8], classes: 4, synthetic_train_count: 64, synthetic_test_count: 16}
        optim: {global_batch: 16}
        schedule: {t0_epochs: 1, t_mult: 1, epochs: 2}
        log: {print_every_steps: 100}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every file below `directory` with its bytes.
    func snapshot(_ directory: String) -> [String: Data] {
        let fm = FileManager.default
        var files: [String: Data] = [:]
        for case let name as String in fm.enumerator(atPath: directory)! {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[name] = fm.contents(atPath: directory + "/" + name)
            }
        }
        return files
    }

    func testARunDirectoryWithAnEarlierRunIsNotOverwritten() throws {
        let binary = try binary(), dir = try temporaryDirectory(for: self), config = try config(in: dir)
        let runDir = dir + "/run"
        try FileManager.default.createDirectory(atPath: runDir + "/checkpoints", withIntermediateDirectories: true)
        try "earlier config\n".write(toFile: runDir + "/config.yaml", atomically: true, encoding: .utf8)
        try "{\"step\": 1}\n".write(toFile: runDir + "/eval.jsonl", atomically: true, encoding: .utf8)
        try "best".write(toFile: runDir + "/checkpoints/best.safetensors", atomically: true, encoding: .utf8)
        let before = snapshot(runDir)
        let fresh = try run(binary, ["--config", config, "--run-dir", runDir])
        XCTAssertEqual(fresh.status, 2, fresh.output)
        XCTAssertTrue(fresh.output.contains("already holds a run (config.yaml, eval.jsonl, checkpoints)"), fresh.output)
        let auto = try run(binary, ["--config", config, "--run-dir", runDir, "--resume", "auto"])
        XCTAssertEqual(auto.status, 2, auto.output)
        XCTAssertTrue(auto.output.contains("holds no step checkpoint"), auto.output)
        XCTAssertEqual(snapshot(runDir), before, "nothing of the earlier run changed")

        // A run directory that would sit below a regular file: refused by --dry-run too.
        for extra in [[], ["--dry-run"]] {
            let below = try run(binary, ["--config", config, "--run-dir", runDir + "/config.yaml/sub"] + extra)
            XCTAssertEqual(below.status, 2, below.output)
            XCTAssertTrue(below.output.contains("is a file, not a folder"), below.output)
        }
    }

    func testResumesThatWouldRewriteHistoryAreRefusedWithoutChangingAFile() throws {
        let binary = try binary(), dir = try temporaryDirectory(for: self), config = try config(in: dir)
        let runDir = dir + "/run"
        let first = try run(binary, ["--config", config, "--run-dir", runDir])
        XCTAssertEqual(first.status, 0, first.output)
        let checkpoints = CheckpointDirectory(runDirectory: runDir)
        XCTAssertEqual(checkpoints.all().map(\.step), [4, 4, 8, 8])
        let before = snapshot(runDir)

        // A resume that fails (another seed) writes nothing, the config included.
        let seed = try run(binary, ["--config", config, "--run-dir", runDir, "--resume", "auto", "--set", "seed=7"])
        XCTAssertEqual(seed.status, 2, seed.output)
        XCTAssertTrue(seed.output.contains("seed"), seed.output)
        // An older checkpoint of the same directory would replace the newer files with another history.
        let older = try run(binary, ["--config", config, "--run-dir", runDir, "--resume", checkpoints.periodic(step: 4)])
        XCTAssertEqual(older.status, 2, older.output)
        XCTAssertTrue(older.output.contains("holds checkpoints newer than step 4"), older.output)
        XCTAssertEqual(snapshot(runDir), before, "a refused resume changed a file")

        // Branching from it into a new directory works, and a changed value is named.
        let branch = try run(binary, ["--config", config, "--run-dir", dir + "/branch", "--resume", checkpoints.periodic(step: 4),
                                      "--set", "optim.lr_max=0.05"])
        XCTAssertEqual(branch.status, 0, branch.output)
        XCTAssertTrue(branch.output.contains("optim.lr_max: 0.1 -> 0.05"), branch.output)
        XCTAssertEqual(EvalLog(runDirectory: dir + "/branch").records().map(\.step), [8])
        XCTAssertEqual(snapshot(runDir), before, "branching changed the original directory")
    }

    /// A kill after an evaluation was logged but before its checkpoint was written: the resumed
    /// run evaluates that step again, and the log holds it once.
    func testAnEvaluationLoggedBeforeAKillIsNotDuplicated() throws {
        let binary = try binary(), dir = try temporaryDirectory(for: self), config = try config(in: dir)
        let runDir = dir + "/run"
        XCTAssertEqual(try run(binary, ["--config", config, "--run-dir", runDir]).status, 0)
        let checkpoints = CheckpointDirectory(runDirectory: runDir)
        for c in checkpoints.all() where c.step == 8 { try FileManager.default.removeItem(atPath: c.path) }
        try FileManager.default.removeItem(atPath: checkpoints.best)
        XCTAssertEqual(EvalLog(runDirectory: runDir).records().map(\.step), [4, 8])
        let resumed = try run(binary, ["--config", config, "--run-dir", runDir, "--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("at step 4"), resumed.output)
        XCTAssertEqual(EvalLog(runDirectory: runDir).records().map(\.step), [4, 8])
        let csv = try String(contentsOfFile: runDir + "/eval.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 3, "\(csv)")
    }
}
