import MBTestSupport
import XCTest
@testable import MBData

final class ReaderTests: XCTestCase {
    /// Real MNIST as embedded in data/mnist; expected values computed with NumPy from the .gz files
    /// (np.frombuffer(gzip.open(f).read(), np.uint8, offset=16 / 8), np.bincount, .sum()).
    func testRealMNISTMatchesNumPy() throws {
        let config = fixtureConfig(.mnist, root: Paths.embeddedData)
        let train = ChannelStatistics(try loadDataset(config, split: .train))
        XCTAssertEqual(train.count, 60000)
        XCTAssertEqual(train.labelHistogram, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
        XCTAssertEqual(train.pixelSum, 1_567_298_545)
        let test = ChannelStatistics(try loadDataset(config, split: .test))
        XCTAssertEqual(test.count, 10000)
        XCTAssertEqual(test.labelHistogram, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
        XCTAssertEqual(test.pixelSum, 264_923_200)
        XCTAssertEqual(test.channelMean[0], 33.791224489795916, accuracy: 1e-9)
    }

    func testRawIDXWrittenWithNumPy() throws {
        var config = fixtureConfig(.mnist)
        config.root = Paths.fixtures + "/mnist-raw"
        try Expected("mnist-raw-test").assertMatches(try loadDataset(config, split: .test))
    }

    func testCIFAR10WrittenWithNumPy() throws {
        let config = fixtureConfig(.cifar10)
        try Expected("cifar10-train").assertMatches(try loadDataset(config, split: .train))
        try Expected("cifar10-test").assertMatches(try loadDataset(config, split: .test))
    }

    /// The archives' name files name the classes; without them the classes have no names (numbers
    /// in an export); a file with the wrong count is refused.
    func testCIFARClassNamesFromTheArchivesNameFiles() throws {
        XCTAssertEqual(try loadDataset(fixtureConfig(.cifar10), split: .test).classNames, [])
        let root = try temporaryDirectory(for: self)
        try FileManager.default.copyItem(atPath: Paths.fixtures + "/cifar-10-batches-bin", toPath: root + "/cifar-10-batches-bin")
        try FileManager.default.copyItem(atPath: Paths.fixtures + "/cifar-100-binary", toPath: root + "/cifar-100-binary")
        let ten = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        try (ten.joined(separator: "\n") + "\n\n").write(toFile: root + "/cifar-10-batches-bin/batches.meta.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try loadDataset(fixtureConfig(.cifar10, root: root), split: .train).classNames, ten)
        var hundred = fixtureConfig(.cifar100, root: root)
        hundred.cifar100Labels = .coarse
        let coarse = (0..<20).map { "superclass \($0)" }
        try coarse.joined(separator: "\r\n").write(toFile: root + "/cifar-100-binary/coarse_label_names.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try loadDataset(hundred, split: .test).classNames, coarse)
        try ten.joined(separator: "\n").write(toFile: root + "/cifar-100-binary/fine_label_names.txt", atomically: true, encoding: .utf8)
        hundred.cifar100Labels = .fine
        assertDataError(try loadDataset(hundred, split: .test), mentions: ["fine_label_names.txt", "lists 10 class names, not 100"])
    }

    func testCIFAR100FineAndCoarseLabels() throws {
        var config = fixtureConfig(.cifar100)
        for split in Split.allCases {
            let fine = try loadDataset(config, split: split)
            XCTAssertEqual(fine.classes, 100)
            try Expected("cifar100-\(split.rawValue)-fine").assertMatches(fine)
        }
        config.cifar100Labels = .coarse
        for split in Split.allCases {
            let coarse = try loadDataset(config, split: split)
            XCTAssertEqual(coarse.classes, 20)
            try Expected("cifar100-\(split.rawValue)-coarse").assertMatches(coarse)
        }
    }

    /// train and extra were written by scipy.io.savemat compressed, test uncompressed.
    func testSVHNWrittenBySciPySavemat() throws {
        var config = fixtureConfig(.svhn)
        try Expected("svhn-train").assertMatches(try loadDataset(config, split: .train))
        try Expected("svhn-test").assertMatches(try loadDataset(config, split: .test))
        config.svhnExtra = true
        let withExtra = try loadDataset(config, split: .train)
        let train = try Expected("svhn-train"), extra = try Expected("svhn-extra")
        XCTAssertEqual(withExtra.labels, train.labels + extra.labels)
        XCTAssertTrue(withExtra.images == train.images + extra.images, "train pixels then extra pixels")
    }

    /// MATLAB saves y as double unless told otherwise; labels of any numeric class are read.
    func testSVHNLabelsOfClassDouble() throws {
        var config = fixtureConfig(.svhn)
        config.root = Paths.fixtures + "/svhn-double-y"
        try Expected("svhn-double-y-test").assertMatches(try loadDataset(config, split: .test))
    }

    /// JPEGs written by Pillow (one grayscale in each split) and a grayscale one by ImageMagick
    /// (val_3), expected pixels decoded by Pillow: libjpeg-turbo here and Pillow's libjpeg agree
    /// exactly, no tolerance needed.
    func testTinyImageNetJPEGsWrittenByPillow() throws {
        let config = fixtureConfig(.tinyImageNet)
        let train = try loadDataset(config, split: .train)
        try Expected("tiny-train").assertMatches(train)
        XCTAssertEqual(train.classNames, ["n01443537", "n01629819", "n01641577"])
        try Expected("tiny-test").assertMatches(try loadDataset(config, split: .test))
    }

    func testTinyImageNetClassDrawIsSeededAndRelabels() throws {
        var config = fixtureConfig(.tinyImageNet)
        let all = try Expected("tiny-train")
        let wnids = ["n01443537", "n01629819", "n01641577"]
        var draws = Set<[String]>()
        for seed in 0..<8 as Range<UInt64> {
            config.classes = 2
            config.classSeed = seed
            let train = try loadDataset(config, split: .train)
            XCTAssertEqual(try loadDataset(config, split: .train).classNames, train.classNames, "same seed, same draw")
            XCTAssertEqual(train.classes, 2)
            XCTAssertEqual(train.classNames, wnids.filter(train.classNames.contains), "kept in wnids.txt order")
            // Each image is the one of its class in the full set, with the label renumbered.
            for (i, label) in train.labels.enumerated() {
                let original = wnids.firstIndex(of: train.classNames[Int(label)])!
                let size = 3 * 64 * 64
                XCTAssertEqual(Array(train.images[i * size..<(i + 1) * size]),
                               Array(all.images[original * size..<(original + 1) * size]))
            }
            let test = try loadDataset(config, split: .test)
            let chosenVal = try Expected("tiny-test").labels.map { wnids[Int($0)] }.filter(train.classNames.contains)
            XCTAssertEqual(test.labels.map { train.classNames[Int($0)] }, chosenVal, "val images of the drawn classes")
            draws.insert(train.classNames)
        }
        XCTAssertGreaterThan(draws.count, 1, "different seeds draw different classes")
    }

    func testSyntheticIsDeterministicAndShaped() throws {
        var config = fixtureConfig(.synthetic)
        config.syntheticShape = [2, 5, 7]
        config.classes = 3
        config.syntheticTrainCount = 40
        let a = try loadDataset(config, split: .train)
        let b = try loadDataset(config, split: .train)
        XCTAssertEqual(a.images, b.images)
        XCTAssertEqual(a.labels, b.labels)
        XCTAssertEqual([a.count, a.channels, a.height, a.width, a.classes], [40, 2, 5, 7, 3])
        XCTAssertEqual(Set(a.labels), [0, 1, 2])
        XCTAssertNotEqual(try loadDataset(config, split: .test).images.prefix(70), a.images.prefix(70))
        XCTAssertGreaterThan(Set(a.images).count, 200, "bytes spread over the range")
    }
}
