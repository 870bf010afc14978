import MBBase
import XCTest

final class CRC32CTests: XCTestCase {
    /// The check value of the CRC catalogue and the iSCSI vectors of RFC 3720, appendix B.4.
    func testPublishedVectors() {
        XCTAssertEqual(CRC32C.checksum("123456789".utf8), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map(UInt8.init)), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map(UInt8.init)), 0x113F_DB5C)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
    }

    /// The mask is a rotation by 15 bits plus 0xA282EAD8: undoing it gives the plain CRC back.
    func testMaskedUndoesToThePlainChecksum() {
        let bytes = Array("brain.Event:2".utf8)
        let rotated = CRC32C.masked(bytes) &- 0xA282_EAD8
        XCTAssertEqual((rotated << 15) | (rotated >> 17), CRC32C.checksum(bytes))
        XCTAssertNotEqual(CRC32C.masked(bytes), CRC32C.checksum(bytes))
    }
}
