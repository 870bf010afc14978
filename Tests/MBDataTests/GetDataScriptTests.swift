import Foundation
import XCTest

/// launch/get-data.sh cannot download here; it must at least explain itself and refuse names it
/// does not know, with exit code 2.
final class GetDataScriptTests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Paths.repository + "/launch/get-data.sh"] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, text)
    }

    func testPrintsUsageAndRejectsAnUnknownName() throws {
        let bare = try run([])
        XCTAssertEqual(bare.status, 2)
        XCTAssertTrue(bare.stderr.contains("usage:") && bare.stderr.contains("tiny-imagenet"), bare.stderr)
        let unknown = try run(["imagenet"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("unknown dataset `imagenet`"), unknown.stderr)
    }
}
