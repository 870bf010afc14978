import Foundation
@testable import MBTrain
import MBTestSupport
import XCTest

/// `mbc-train report --paper`: each run beside the paper's result for its dataset and model.
final class ReportCommandTests: XCTestCase, CommandRunning {
    /// A run directory with a shipped config as its config.yaml and one evaluation per top-1.
    func makeRun(_ dir: String, config: String, top1: [Double], top5: Double = 0.99) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repositoryRoot + "/configs/" + config, toPath: dir + "/config.yaml")
        let log = EvalLog(runDirectory: dir)
        for (i, t) in top1.enumerated() {
            try log.append(EvalRecord(epoch: i + 1, step: 390 * (i + 1), lr: 0.01, trainLoss: 0.5, trainTop1: 0.9, testLoss: 0.3,
                                      testTop1: t, testTop5: top5, imagesPerSecond: 300, elapsedSeconds: 60))
        }
    }

    func testPaperReportMatchesEachRunToItsTableAndBudget() throws {
        let dir = try temporaryDirectory(for: self)
        try makeRun(dir + "/k2", config: "cifar10-k2.yaml", top1: [0.61, 0.7432, 0.7125])
        try makeRun(dir + "/u", config: "u-cifar10.yaml", top1: [0.5])
        try makeRun(dir + "/quick", config: "quick.yaml", top1: [0.9418, 0.985])
        try makeRun(dir + "/tiny", config: "tiny-imagenet.yaml", top1: [0.3], top5: 0.6)
        let runs = ["k2", "u", "quick", "tiny"].map { dir + "/" + $0 }
        let r = try run(try binary(), ["report", "--paper", "--json"] + runs)
        XCTAssertEqual(r.status, 0, r.output)
        let objects = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [[String: Any]], r.output)
        let paper = objects.map { $0["paper"] as? [String: Any] ?? [:] }
        XCTAssertEqual(paper.map { $0["source"] as? String }, ["Table 2 k=2", "Table 1 [u]", "Table 1", "text"])
        XCTAssertEqual(paper.map { $0["top1"] as? Double }, [0.9517, 0.9578, 0.9963, 0.8307])
        XCTAssertEqual(paper.map { $0["epochs"] as? Int }, [256, 256, 32, nil])
        XCTAssertEqual(paper.map { $0["same_model"] as? Bool }, [true, true, false, true])
        XCTAssertEqual(paper[3]["top5"] as? Double, 0.9651)

        // The table: epochs done against the budget, the last top-1 and its difference from the paper.
        let text = try run(try binary(), ["report", "--paper"] + runs)
        XCTAssertEqual(text.status, 0, text.output)
        let k2 = try XCTUnwrap(text.output.split(separator: "\n").first { $0.hasPrefix(dir + "/k2 ") }, text.output)
        let cells = k2.split(separator: " ").map(String.init)
        XCTAssertTrue(cells.contains("3/256"), String(k2))
        XCTAssertTrue(cells.contains("71.25%"), String(k2))
        XCTAssertTrue(cells.contains(String(format: "%+.2f", 71.25 - 95.17)), String(k2))
        XCTAssertTrue(cells.contains("74.32%"), String(k2))   // best
        let quick = try XCTUnwrap(text.output.split(separator: "\n").first { $0.hasPrefix(dir + "/quick ") }, text.output)
        XCTAssertTrue(quick.contains("16-16-32 L3 k4") && quick.contains("2/32") && quick.contains("-1.13"), String(quick))

        let markdown = try run(try binary(), ["report", "--paper", "--markdown", dir + "/tiny"])
        XCTAssertEqual(markdown.status, 0, markdown.output)
        let lines = markdown.output.split(separator: "\n")
        XCTAssertTrue(lines[0].hasPrefix("| run | dataset | model | paper |"), markdown.output)
        XCTAssertTrue(lines[1].hasPrefix("| --- | --- | --- | --- | ---: |"), markdown.output)
        XCTAssertTrue(lines[2].contains("| tiny-imagenet | as paper | text | 1/– | 83.07% | 30.00% | -53.07 |"), markdown.output)
        XCTAssertTrue(lines[2].hasSuffix("| 96.51% | 60.00% |"), markdown.output)
    }

    func testBadRunDirectoriesGetOneLineAndExitCode2() throws {
        let dir = try temporaryDirectory(for: self)
        try makeRun(dir + "/garbage", config: "mnist.yaml", top1: [0.9])
        try "{\"epoch\": 1}\n".write(toFile: dir + "/garbage/eval.jsonl", atomically: true, encoding: .utf8)
        try makeRun(dir + "/noconfig", config: "mnist.yaml", top1: [0.9])
        try FileManager.default.removeItem(atPath: dir + "/noconfig/config.yaml")
        for (args, words) in [(["report", dir + "/garbage"], "line 1 is not an evaluation record"),
                              (["report", "--paper", dir + "/noconfig"], "has no config.yaml")] {
            let r = try run(try binary(), args)
            XCTAssertEqual(r.status, 2, r.output)
            XCTAssertEqual(r.output.split(separator: "\n").count, 1, r.output)
            XCTAssertTrue(r.output.contains(words), r.output)
        }
        // Without --paper a run needs no config; a run that has not evaluated yet is skipped with a warning.
        try FileManager.default.createDirectory(atPath: dir + "/fresh", withIntermediateDirectories: true)
        let r = try run(try binary(), ["report", dir + "/noconfig", dir + "/fresh"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("`\(dir)/fresh` has no evaluation records"), r.output)
    }
}
