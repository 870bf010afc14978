import MBBase
import XCTest

final class FNV1aTests: XCTestCase {
    func hash(_ text: String) -> UInt64 {
        var hash = FNV1a()
        hash.add(bytes: text.utf8)
        return hash.value
    }

    /// The published 64-bit FNV-1a test vectors.
    func testPublishedVectors() {
        XCTAssertEqual(hash(""), 0xcbf2_9ce4_8422_2325, "the offset basis")
        XCTAssertEqual(hash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(hash("foobar"), 0x8594_4171_f739_67e8)
    }

    func testBytesAreUnitsOneByOne() {
        var byUnit = FNV1a()
        for byte in "foobar".utf8 { byUnit.add(UInt64(byte)) }
        XCTAssertEqual(byUnit.value, hash("foobar"))
    }
}
