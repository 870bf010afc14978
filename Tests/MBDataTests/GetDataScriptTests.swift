import Foundation
import MBTestSupport
import XCTest

/// launch/get-data.sh cannot download here; it must at least explain itself and refuse names it
/// does not know, with exit code 2.
final class GetDataScriptTests: XCTestCase, CommandRunning {
    func getData(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run("/bin/bash", [repositoryRoot + "/launch/get-data.sh"] + arguments)
    }

    func testPrintsUsageAndRejectsAnUnknownName() throws {
        let bare = try getData([])
        XCTAssertEqual(bare.status, 2)
        XCTAssertTrue(bare.output.contains("usage:") && bare.output.contains("tiny-imagenet"), bare.output)
        let unknown = try getData(["imagenet"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.output.contains("unknown dataset `imagenet`"), unknown.output)
    }
}
