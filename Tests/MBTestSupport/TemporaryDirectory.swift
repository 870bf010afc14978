import Foundation
import XCTest

/// A fresh temporary directory for one test, removed when the test ends.
public func temporaryDirectory(for testCase: XCTestCase) throws -> String {
    let path = NSTemporaryDirectory() + "mbc-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}
