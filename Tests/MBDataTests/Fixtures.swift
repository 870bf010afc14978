import Foundation
import XCTest
@testable import MBData

/// Paths of the committed fixtures (made by Fixtures/make_fixtures.py) and the repository's data.
enum Paths {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
    static let fixtures = tests + "/Fixtures"
    static let repository = URL(fileURLWithPath: tests).deletingLastPathComponent().deletingLastPathComponent().path
    static let embeddedData = repository + "/data"
}

/// What the generator script wrote as the independent reading of a fixture.
struct Expected {
    var shape: [Int]
    var labels: [Int32]
    var images: [UInt8]

    init(_ name: String) throws {
        let json = try Data(contentsOf: URL(fileURLWithPath: Paths.fixtures + "/expected/\(name).json"))
        let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        shape = object["shape"] as! [Int]
        labels = (object["labels"] as! [Int]).map(Int32.init)
        images = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Paths.fixtures + "/expected/\(name).bin")))
    }

    func assertMatches(_ data: Dataset, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual([data.count, data.channels, data.height, data.width], shape, file: file, line: line)
        XCTAssertEqual(data.labels, labels, file: file, line: line)
        XCTAssertEqual(data.images.count, images.count, file: file, line: line)
        let differing = zip(data.images, images).filter { $0 != $1 }.count
        XCTAssertEqual(differing, 0, "pixels that differ from the independent reading", file: file, line: line)
    }
}

func fixtureConfig(_ dataset: DatasetName, root: String = Paths.fixtures) -> DataConfig {
    var config = DataConfig()
    config.dataset = dataset
    config.root = root
    return config
}

func assertDataError(_ body: @autoclosure () throws -> some Any, mentions words: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        guard let e = error as? DataError else {
            return XCTFail("expected a DataError, got \(error)", file: file, line: line)
        }
        XCTAssertFalse(e.message.contains("\n"), "one line: \(e.message)", file: file, line: line)
        for w in words {
            XCTAssertTrue(e.message.contains(w), "`\(e.message)` does not mention `\(w)`", file: file, line: line)
        }
    }
}
