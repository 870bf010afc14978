import MBBase
import XCTest

final class TextTableTests: XCTestCase {
    func testNamesLeftNumbersRightTwoSpacesApart() {
        let lines = tableLines([["kind", "count", "MB"], ["stem", "1,728", "0.007"], ["modulated 3x3", "12", "3.1"]])
        XCTAssertEqual(lines, [
            "kind           count     MB",
            "stem           1,728  0.007",
            "modulated 3x3     12    3.1",
        ])
    }

    func testWidthsCountCharactersNotBytes() {
        XCTAssertEqual(tableLines([["ΣC", "x"], ["a", "ΣΣΣ"]]), ["ΣC    x", "a   ΣΣΣ"])
    }

    func testNoRowsNoLines() {
        XCTAssertEqual(tableLines([]), [])
    }
}
