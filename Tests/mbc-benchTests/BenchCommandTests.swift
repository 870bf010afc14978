import Foundation
import MBTestSupport
import XCTest

/// Runs the built `mbc-bench`: its command line, and a tiny `ddp` run.
final class BenchCommandTests: XCTestCase, CommandRunning {
    func bench() throws -> String { try builtExecutable("mbc-bench") }

    func testBadOptionsGetOneLineAndExitCode2() throws {
        let bench = try bench()
        for (args, words) in [(["bogus"], ["bogus"]), (["ddp", "--k", "0"], ["--k 0", ">= 1"]),
                              (["ddp", "--model", "64-x"], ["64-x", "64-64-128"]), (["ddp", "--steps"], ["--steps"]),
                              (["model", "--repeats", "0"], ["--repeats 0"]), (["gemm", "ddp"], ["ddp", "loader"])] {
            let r = try run(bench, args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.output)")
            XCTAssertEqual(r.output.split(separator: "\n").count, 1, "\(args): one line expected: \(r.output)")
            XCTAssertTrue(r.output.hasPrefix("error: "), r.output)
            for w in words { XCTAssertTrue(r.output.contains(w), "\(args): `\(r.output)` lacks `\(w)`") }
        }
    }

    func testDistributedBenchmarkReportsTheOptionsItRan() throws {
        let r = try run(try bench(), ["ddp", "--model", "8-8-16", "--k", "2", "--warmup", "1", "--steps", "2",
                                      "--global-batch", "16", "--eval-images", "64", "--eval-batch", "32", "--eval-repeats", "1"])
        XCTAssertEqual(r.status, 0, r.output)
        let line = try XCTUnwrap(r.output.split(separator: "\n").last.map(String.init), r.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        XCTAssertEqual(json["model"] as? String, "8-8-16")
        XCTAssertEqual(json["k"] as? Int, 2)
        XCTAssertEqual(json["ranks"] as? Int, 1)
        XCTAssertEqual(json["global_batch"] as? Int, 16)
        XCTAssertEqual((json["train_step_seconds"] as? [Double])?.count, 2, line)
        XCTAssertEqual(json["eval_images"] as? Int, 64)
        XCTAssertNotNil(json["eval_images_per_second"] as? Double, line)
    }
}
