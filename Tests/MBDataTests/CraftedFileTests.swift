import CZlib
import Foundation
import MBTestSupport
import XCTest
@testable import MBData

/// Dataset files crafted to claim more than they hold, to point outside the dataset, or to repeat
/// themselves: each reader refuses them with a DataError naming the file, before allocating what
/// a header claims. The byte-level readers are the ones the fuzz targets drive (fuzz/README.md).
final class CraftedFileTests: XCTestCase {
    func bigEndian(_ words: [UInt32]) -> [UInt8] { words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * $0)) } } }

    /// A zlib stream of `bytes` (the readers take zlib and gzip alike).
    func zlib(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        XCTAssertEqual(compress2(&out, &length, bytes, uLong(bytes.count), 9), Z_OK)
        return Array(out.prefix(Int(length)))
    }

    func testIDXHeadersThatClaimTooMuch() {
        let images = "MNIST images"
        func parse(_ bytes: [UInt8], _ name: String = "x-idx3-ubyte") throws -> MNIST.IDX {
            try MNIST.parseIDX(bytes, file: name, magic: 0x0803, what: images)
        }
        let claims = "would hold more bytes than"
        assertDataError(try parse(bigEndian([0x803, 0xFFFF_FFFF, 0xFFFF_FFFF, 28]) + [0, 0]), mentions: ["x-idx3-ubyte", claims])
        assertDataError(try parse(bigEndian([0x803, 0xFFFF_FFFF, 28, 28])), mentions: [claims, "[4294967295, 28, 28]"])
        assertDataError(try parse(bigEndian([0x803, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF])), mentions: [claims])
        assertDataError(try parse(bigEndian([0x803, 2, 28, 28]) + [1, 2, 3]), mentions: ["19 bytes", "expected 1584", "truncated"])
        assertDataError(try parse(bigEndian([0x803, 0, 28, 28]) + [1]), mentions: ["17 bytes", "expected 16"])
        assertDataError(try parse([]), mentions: ["a 0-byte file", "expected 2051"])
        assertDataError(try parse(bigEndian([0x801, 1, 1, 1])), mentions: ["magic number is 2049"])
        // Compressed: the header is read first; the stream may not hold more than it says.
        let gz = "x-idx3-ubyte.gz"
        assertDataError(try parse(zlib(bigEndian([0x803, 0xFFFF_FFFF, 0xFFFF_FFFF, 28])), gz), mentions: [gz, claims])
        assertDataError(try parse(zlib(bigEndian([0x803, 1, 2, 2]) + [UInt8](repeating: 0, count: 1 << 20)), gz),
                        mentions: [gz, "inflates to more than the 20 bytes"])
        assertDataError(try parse(zlib(bigEndian([0x803, 1, 2, 2]) + [0]), gz), mentions: [gz, "17 bytes inflated", "expected 20"])
        assertDataError(try parse(zlib([8, 3]), gz), mentions: [gz, "a 2-byte file"])
        assertDataError(try parse(Array(zlib(bigEndian([0x803, 1, 2, 2, 0])).prefix(6)), gz), mentions: [gz, "ends early"])
        assertDataError(try parse([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF], gz), mentions: [gz, "corrupt"])
        XCTAssertEqual(try parse(zlib(bigEndian([0x803, 1, 2, 2]) + [9, 8, 7, 6]), gz).data, [9, 8, 7, 6])
    }

    /// A level 5 MAT-file: the 128-byte header, then `elements`.
    func mat(_ elements: [UInt8]) throws -> [UInt8] {
        let fixture = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Paths.fixtures + "/svhn/test_32x32.mat")))
        return Array(fixture.prefix(128)) + elements
    }

    func littleEndian(_ words: [UInt32]) -> [UInt8] { words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } } }

    func testMATElementsThatClaimTooMuch() throws {
        let fixture = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Paths.fixtures + "/svhn/test_32x32.mat")))
        func read(_ bytes: [UInt8]) throws -> Dataset { try SVHN.images(of: try MATFile(bytes: bytes, file: "m.mat"), path: "m.mat") }
        // The file ends with y's data in a small element: its tag's upper half is the byte count (at most 4).
        var small = fixture
        small[small.count - 6] = 0xFF
        small[small.count - 5] = 0xFF
        assertDataError(try read(small), mentions: ["m.mat", "small element", "claims 65535 bytes", "more than the 4"])
        // An element that claims more bytes than remain.
        assertDataError(try read(try mat(littleEndian([14, 0xFFFF_FFF0]))), mentions: ["claims 4294967280 bytes", "truncated"])
        assertDataError(try read(try mat([14, 0, 0])), mentions: ["ends inside an element tag"])
        // Compressed: the inner element's own tag bounds what is inflated.
        let inner = littleEndian([14, 0x0FFF_FFFF]) + [UInt8](repeating: 0, count: 64)
        let claimsMore = zlib(inner)
        assertDataError(try read(try mat(littleEndian([15, UInt32(claimsMore.count)]) + claimsMore)),
                        mentions: ["claims 268435455 bytes but only 64 remain"])
        let holdsMore = zlib(littleEndian([14, 8]) + [UInt8](repeating: 7, count: 1 << 20))
        assertDataError(try read(try mat(littleEndian([15, UInt32(holdsMore.count)]) + holdsMore)),
                        mentions: ["m.mat", "inflates to more than the 16 bytes"])
        let garbage: [UInt8] = [0x78, 0x9C, 0xFF, 0xFF, 0xFF, 0xFF]
        assertDataError(try read(try mat(littleEndian([15, UInt32(garbage.count)]) + garbage + [0, 0])), mentions: ["corrupt"])
        // Header only, or an empty matrix.
        assertDataError(try read(try mat([])), mentions: ["no variable `X`"])
        assertDataError(try read(try mat(littleEndian([14, 0]))), mentions: ["ends before its data"])
    }

    func testSVHNDimensionsThatOverflow() throws {
        // y of dimensions [2^32-1, 2^32-1] (their product overflows Int) beside a valid X of one image.
        var flags = littleEndian([6, 8, 9, 0])                               // miUINT32 array flags: class uint8
        var dims = littleEndian([5, 16, 32, 32, 3, 1])                       // miINT32 dims 32x32x3x1
        var name = littleEndian([0x0001_0001]) + Array("X".utf8) + [0, 0, 0] // small miINT8 name
        var data = littleEndian([2, 3072]) + [UInt8](repeating: 1, count: 3072)
        let x = flags + dims + name + data
        flags = littleEndian([6, 8, 6, 0])
        dims = littleEndian([5, 8, 0xFFFF_FFFF, 0xFFFF_FFFF])
        name = littleEndian([0x0001_0001]) + Array("y".utf8) + [0, 0, 0]
        data = littleEndian([9, 8]) + [0, 0, 0, 0, 0, 0, 0xF0, 0x3F]        // one double, 1.0
        let y = flags + dims + name + data
        let file = try mat(littleEndian([14, UInt32(x.count)]) + x + littleEndian([14, UInt32(y.count)]) + y)
        assertDataError(try SVHN.images(of: try MATFile(bytes: file, file: "o.mat"), path: "o.mat"),
                        mentions: ["o.mat", "variable `y` has dimensions [4294967295, 4294967295]", "expected 1x1"])
    }

    func testCIFARRecords() {
        func parse(_ bytes: [UInt8]) throws -> (images: [UInt8], labels: [Int32]) {
            try CIFAR.parseRecords(bytes, file: "b.bin", labelBytes: 2, labelOffset: 1, classes: 100, what: "CIFAR-100")
        }
        assertDataError(try parse([]), mentions: ["b.bin", "0 bytes", "3074-byte records"])
        assertDataError(try parse([UInt8](repeating: 0, count: 3075)), mentions: ["3075 bytes"])
        assertDataError(try parse([0, 100] + [UInt8](repeating: 0, count: 3072)), mentions: ["record 0 has label 100", "0...99"])
        XCTAssertEqual(try parse([0, 99] + [UInt8](repeating: 5, count: 3072)).labels, [99])
    }

    func testTinyImageNetListsStayInsideTheDataset() {
        func classes(_ text: String) throws -> [String] { try TinyImageNet.classList(Array(text.utf8), file: "wnids.txt") }
        func rows(_ text: String) throws -> [(name: String, wnid: String)] { try TinyImageNet.annotations(Array(text.utf8), file: "a.txt") }
        assertDataError(try classes("n01\nn02\nn01\n"), mentions: ["wnids.txt", "line 3 repeats `n01` of line 1", "listed once"])
        assertDataError(try classes("n01\n  n01  \n"), mentions: ["line 2 repeats"])
        assertDataError(try classes("n01\n../../etc\n"), mentions: ["line 2", "`../../etc`", "not a plain folder name"])
        assertDataError(try classes(".."), mentions: ["not a plain folder name"])
        assertDataError(try classes("."), mentions: ["not a plain folder name"])
        assertDataError(try classes("/etc"), mentions: ["not a plain folder name"])
        assertDataError(try classes("n01\u{0}x"), mentions: ["not a plain folder name"])
        assertDataError(try classes("\n \n\t\n"), mentions: ["empty"])
        XCTAssertEqual(try classes("n01\r\nn02\n\n"), ["n01", "n02"])
        assertDataError(try rows("../../../../outside.JPEG\tn01\t0\t0\t63\t63\n"),
                        mentions: ["a.txt", "line 1", "../../../../outside.JPEG", "not a plain file name inside val/images"])
        assertDataError(try rows("val_0.JPEG\tn01\n/etc/passwd\tn01\n"), mentions: ["line 2", "/etc/passwd"])
        assertDataError(try rows("..\tn01\n"), mentions: ["not a plain file name"])
        assertDataError(try rows("val_0.JPEG n01\n"), mentions: ["line 1 has no tab-separated wnid"])
        XCTAssertEqual(try rows("v.JPEG\tn01\t0\n").map(\.name), ["v.JPEG"])
    }

    func testJPEGsThatClaimTooMuch() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Paths.fixtures + "/tiny-imagenet-200/val/images/val_0.JPEG")))
        var out = [UInt8](repeating: 0, count: 3 * 64 * 64)
        func decode(_ bytes: [UInt8]) throws { try TinyImageNet.decodeJPEG(bytes, file: "v.JPEG", into: &out) }
        XCTAssertNoThrow(try decode(original))
        // The baseline frame header (FF C0, length, precision, then height and width).
        let sof = try XCTUnwrap((0..<original.count - 1).first { original[$0] == 0xFF && original[$0 + 1] == 0xC0 })
        var huge = original
        huge.replaceSubrange(sof + 5..<sof + 9, with: [0xFF, 0xDC, 0xFF, 0xDC])
        assertDataError(try decode(huge), mentions: ["v.JPEG", "65500x65500", "more than the 4096"])
        var wide = original
        wide.replaceSubrange(sof + 5..<sof + 9, with: [0x00, 0x01, 0xFF, 0xDC])
        assertDataError(try decode(wide), mentions: ["65500x1"])
        var empty = original
        empty.replaceSubrange(sof + 5..<sof + 9, with: [0, 0, 0, 0])
        assertDataError(try decode(empty), mentions: ["does not decode as JPEG"])
        assertDataError(try decode([]), mentions: ["does not decode as JPEG"])
        assertDataError(try decode(Array(original.prefix(200))), mentions: ["does not decode as JPEG"])
    }

    /// End to end: an annotation naming a file outside the dataset, and lists that are not files.
    func testTinyImageNetFilesOutsideTheDatasetAreNotRead() throws {
        let root = try temporaryDirectory(for: self)
        let dir = root + "/tiny-imagenet-200"
        try FileManager.default.copyItem(atPath: Paths.fixtures + "/tiny-imagenet-200", toPath: dir)
        try FileManager.default.copyItem(atPath: dir + "/val/images/val_0.JPEG", toPath: root + "/outside.JPEG")
        let annotations = dir + "/val/val_annotations.txt"
        try "../../outside.JPEG\tn01641577\t0\t0\t63\t63\n".write(toFile: annotations, atomically: true, encoding: .utf8)
        assertDataError(try loadDataset(fixtureConfig(.tinyImageNet, root: root), split: .test),
                        mentions: [annotations, "../../outside.JPEG", "not a plain file name"])
        try FileManager.default.removeItem(atPath: annotations)
        try FileManager.default.createSymbolicLink(atPath: annotations, withDestinationPath: "/dev/zero")
        assertDataError(try loadDataset(fixtureConfig(.tinyImageNet, root: root), split: .test),
                        mentions: [annotations, "not a regular file"])
        try FileManager.default.removeItem(atPath: dir + "/wnids.txt")
        try FileManager.default.createDirectory(atPath: dir + "/wnids.txt", withIntermediateDirectories: false)
        assertDataError(try loadDataset(fixtureConfig(.tinyImageNet, root: root), split: .train),
                        mentions: [dir + "/wnids.txt", "not a regular file"])
    }
}
