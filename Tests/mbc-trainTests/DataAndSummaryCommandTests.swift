import Foundation
import MBTestSupport
import XCTest

/// The data and summary commands as a user runs them.
final class DataAndSummaryCommandTests: XCTestCase, CommandRunning {
    func testInspectDataPrintsTheSplitAsJSON() throws {
        let r = try run(try binary(), ["inspect-data", "--config", "configs/quick.yaml", "--split", "test", "--json"],
                        directory: repositoryRoot)
        XCTAssertEqual(r.status, 0, r.output)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any], r.output)
        XCTAssertEqual(o["count"] as? Int, 10_000)
        XCTAssertEqual(o["classes"] as? Int, 10)
        // Independent values: NumPy over t10k-images-idx3-ubyte (see MBDataTests.ReaderTests).
        XCTAssertEqual((o["pixel_sum"] as? NSNumber)?.int64Value, 264_923_200)
        XCTAssertEqual((o["label_histogram"] as? [Int])?.reduce(0, +), 10_000)
        let missing = try run(try binary(), ["inspect-data", "--config", "configs/quick.yaml", "--data-root", "/nonexistent"],
                              directory: repositoryRoot)
        XCTAssertEqual(missing.status, 2, missing.output)
        XCTAssertTrue(missing.output.hasPrefix("error: /nonexistent"), missing.output)
    }

    func testSummaryJSONCountsTheDefaultModel() throws {
        let r = try run(try binary(), ["summary", "--config", "configs/cifar10-k4.yaml", "--json"], directory: repositoryRoot)
        XCTAssertEqual(r.status, 0, r.output)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any], r.output)
        XCTAssertEqual(o["parameters"] as? Int, 1_370_944)   // reference/param_count.py, compression on
        XCTAssertEqual((o["binary_parameters"] as? Int).map { $0 + (o["float_parameters"] as? Int ?? 0) }, 1_370_944)
    }
}
