import Foundation
import MBTestSupport
import XCTest
@testable import MBData

/// Every kind of bad input gets a one-line DataError naming the file and what was expected.
final class BadInputTests: XCTestCase {
    /// A writable copy of fixture folder `name` in a temporary directory; returns its path.
    func copy(_ name: String) throws -> String {
        let destination = try temporaryDirectory(for: self) + "/" + name
        try FileManager.default.copyItem(atPath: Paths.fixtures + "/" + name, toPath: destination)
        return destination
    }

    func edit(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func config(_ dataset: DatasetName, at directory: String) -> DataConfig {
        fixtureConfig(dataset, root: directory)
    }

    func testMissingDirectoryAndMissingFile() throws {
        assertDataError(try loadDataset(config(.cifar10, at: "/nonexistent/data"), split: .train),
                        mentions: ["/nonexistent/data", "get-data.sh cifar10"])
        let empty = try temporaryDirectory(for: self)
        assertDataError(try loadDataset(config(.mnist, at: empty), split: .test),
                        mentions: [empty + "/t10k-images-idx3-ubyte", "file not found", "IDX"])
        assertDataError(try loadDataset(config(.cifar10, at: empty), split: .test),
                        mentions: [empty + "/test_batch.bin", "file not found", "3073-byte records"])
    }

    func testWrongMagicNumber() throws {
        let dir = try copy("mnist-raw")
        let images = dir + "/t10k-images-idx3-ubyte"
        try edit(images) { $0[3] = 0x01 }
        assertDataError(try loadDataset(config(.mnist, at: dir), split: .test),
                        mentions: [images, "magic number is 2049", "expected 2051"])
    }

    func testTruncatedIDXRawAndGzip() throws {
        let dir = try copy("mnist-raw")
        let images = dir + "/t10k-images-idx3-ubyte"
        try edit(images) { $0.removeLast(100) }
        assertDataError(try loadDataset(config(.mnist, at: dir), split: .test),
                        mentions: [images, "2268 bytes", "expected 2368", "truncated"])

        let gzipped = try temporaryDirectory(for: self)
        let real = Paths.embeddedData + "/mnist/t10k-labels-idx1-ubyte.gz"
        try FileManager.default.copyItem(atPath: Paths.embeddedData + "/mnist/t10k-images-idx3-ubyte.gz",
                                         toPath: gzipped + "/t10k-images-idx3-ubyte.gz")
        try FileManager.default.copyItem(atPath: real, toPath: gzipped + "/t10k-labels-idx1-ubyte.gz")
        try edit(gzipped + "/t10k-labels-idx1-ubyte.gz") { $0.removeLast($0.count / 2) }
        assertDataError(try loadDataset(config(.mnist, at: gzipped), split: .test),
                        mentions: [gzipped + "/t10k-labels-idx1-ubyte.gz", "ends early"])
    }

    func testCorruptGzip() throws {
        let dir = try copy("mnist-raw")
        let bogus = [UInt8]([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        try FileManager.default.removeItem(atPath: dir + "/t10k-labels-idx1-ubyte")
        try Data(bogus).write(to: URL(fileURLWithPath: dir + "/t10k-labels-idx1-ubyte.gz"))
        assertDataError(try loadDataset(config(.mnist, at: dir), split: .test),
                        mentions: [dir + "/t10k-labels-idx1-ubyte.gz", "corrupt"])
    }

    func testRecordSizeThatDoesNotDivideTheFile() throws {
        let dir = try copy("cifar-10-batches-bin")
        try edit(dir + "/test_batch.bin") { $0.append(0) }
        assertDataError(try loadDataset(config(.cifar10, at: dir), split: .test),
                        mentions: [dir + "/test_batch.bin", "6147 bytes", "3073-byte records"])
        let cifar100 = try copy("cifar-100-binary")
        try edit(cifar100 + "/train.bin") { $0.removeLast(10) }
        assertDataError(try loadDataset(config(.cifar100, at: cifar100), split: .train),
                        mentions: [cifar100 + "/train.bin", "3074-byte records"])
        try edit(cifar100 + "/test.bin") { $0 = [] }
        assertDataError(try loadDataset(config(.cifar100, at: cifar100), split: .test),
                        mentions: [cifar100 + "/test.bin", "0 bytes"])
    }

    func testLabelOutOfRange() throws {
        let dir = try copy("cifar-10-batches-bin")
        try edit(dir + "/data_batch_3.bin") { $0[3073] = 10 }
        assertDataError(try loadDataset(config(.cifar10, at: dir), split: .train),
                        mentions: [dir + "/data_batch_3.bin", "record 1 has label 10", "expected 0...9"])
        let mnist = try copy("mnist-raw")
        try edit(mnist + "/t10k-labels-idx1-ubyte") { $0[8] = 200 }
        assertDataError(try loadDataset(config(.mnist, at: mnist), split: .test),
                        mentions: [mnist + "/t10k-labels-idx1-ubyte", "record 0 has label 200"])
    }

    func testMATFileWithoutXOrWithTheWrongClass() throws {
        let dir = try copy("svhn-bad")
        assertDataError(try SVHN.read(dir + "/no-X.mat"), mentions: [dir + "/no-X.mat", "no variable `X`"])
        assertDataError(try SVHN.read(dir + "/no-y.mat"), mentions: [dir + "/no-y.mat", "no variable `y`"])
        assertDataError(try SVHN.read(dir + "/double-X.mat"),
                        mentions: [dir + "/double-X.mat", "class double", "expected uint8"])
        try FileManager.default.copyItem(atPath: dir + "/no-X.mat", toPath: dir + "/train_32x32.mat")
        assertDataError(try loadDataset(config(.svhn, at: dir), split: .train),
                        mentions: [dir + "/train_32x32.mat", "no variable `X`"])
    }

    func testTruncatedAndForeignMATFiles() throws {
        let dir = try copy("svhn")
        try edit(dir + "/train_32x32.mat") { $0.removeLast(200) }
        assertDataError(try loadDataset(config(.svhn, at: dir), split: .train),
                        mentions: [dir + "/train_32x32.mat", "truncated"])
        try edit(dir + "/test_32x32.mat") { $0.removeLast(5000) }
        assertDataError(try loadDataset(config(.svhn, at: dir), split: .test),
                        mentions: [dir + "/test_32x32.mat", "truncated"])
        try edit(dir + "/extra_32x32.mat") { $0[124] = 0; $0[125] = 2 }
        assertDataError(try SVHN.read(dir + "/extra_32x32.mat"),
                        mentions: [dir + "/extra_32x32.mat", "version 0x200", "MATLAB 7.3", "level 5"])
        try edit(dir + "/extra_32x32.mat") { $0 = Array("not a mat file".utf8) }
        assertDataError(try SVHN.read(dir + "/extra_32x32.mat"),
                        mentions: [dir + "/extra_32x32.mat", "level 5 MAT-file"])
    }

    func testSVHNLabelOutOfRange() throws {
        let dir = try copy("svhn")
        // test_32x32.mat is uncompressed and ends with y's data: 2 bytes in a small data element
        // (4-byte tag, then the payload padded to 4 bytes).
        try edit(dir + "/test_32x32.mat") { $0[$0.count - 4] = 11 }
        assertDataError(try loadDataset(config(.svhn, at: dir), split: .test),
                        mentions: [dir + "/test_32x32.mat", "y(1) is 11", "expected 1...10"])
    }

    func testJPEGThatDoesNotDecode() throws {
        let dir = try copy("tiny-imagenet-200")
        let garbage = dir + "/val/images/val_1.JPEG"
        try edit(garbage) { $0 = Array("this is not a JPEG at all".utf8) }
        assertDataError(try loadDataset(config(.tinyImageNet, at: dir), split: .test),
                        mentions: [garbage, "does not decode as JPEG", "Not a JPEG file"])
        let truncated = dir + "/train/n01629819/images/n01629819_0.JPEG"
        try edit(truncated) { $0.removeLast($0.count / 2) }
        assertDataError(try loadDataset(config(.tinyImageNet, at: dir), split: .train),
                        mentions: [truncated, "does not decode as JPEG"])
    }

    func testEmptyDirectoryAndEmptyClassList() throws {
        let dir = try copy("tiny-imagenet-200")
        let images = dir + "/train/n01641577/images"
        for name in try FileManager.default.contentsOfDirectory(atPath: images) {
            try FileManager.default.removeItem(atPath: images + "/" + name)
        }
        assertDataError(try loadDataset(config(.tinyImageNet, at: dir), split: .train),
                        mentions: [images, "no .JPEG images", "n01641577"])
        try edit(dir + "/wnids.txt") { $0 = [] }
        assertDataError(try loadDataset(config(.tinyImageNet, at: dir), split: .train),
                        mentions: [dir + "/wnids.txt", "empty"])
    }

    func testMoreClassesThanTheListHolds() throws {
        var c = config(.tinyImageNet, at: Paths.fixtures)
        c.classes = 5
        assertDataError(try loadDataset(c, split: .train), mentions: ["wnids.txt", "3 classes", "asks for 5"])
    }
}
