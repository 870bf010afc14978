import Foundation
import MBCore
import MBData
@testable import MBDeploy
import MBTestSupport
import XCTest

/// Images for `predict`: the PNG decoder against pixels written by an independent encoder
/// (Fixtures/make_images.py, Python's zlib, every filter type), JPEG through libjpeg-turbo, the
/// channel conversions, and a sentence for every image the model cannot take.
final class ImageTests: XCTestCase {
    func mnistDigit() throws -> [UInt8] {
        var config = DataConfig()
        config.root = repositoryRoot + "/data"
        config.testLimit = 1
        return try loadDataset(config, split: .test).images
    }

    func testEveryPNGColourTypeDecodesToTheWrittenPixels() throws {
        let digit = try mnistDigit()
        for (name, channels) in [("gray", 1), ("ga", 1), ("rgb", 3), ("palette", 3), ("rgba", 3)] {
            let image = try DecodedImage(contentsOf: fixtures + "/digit-\(name).png")
            XCTAssertEqual([image.width, image.height, image.channels], [28, 28, channels], name)
            XCTAssertEqual(image.pixels, Array([[UInt8]](repeating: digit, count: channels).joined()), name)
        }
    }

    func testChannelsAreConvertedAsTrainingReadsThem() throws {
        var rng = SplitMix64(seed: 1)
        let (_, gray) = try randomExport(smallConfig(channels: 1, size: 28), rng: &rng)
        let digit = try mnistDigit()
        for name in ["gray", "rgb", "palette", "rgba"] {
            let path = fixtures + "/digit-\(name).png"
            XCTAssertEqual(try gray.inputBytes(try DecodedImage(contentsOf: path), path: path), digit, name)
        }
        let (_, colour) = try randomExport(smallConfig(channels: 3, size: 64), rng: &rng)
        let (_, grayscale64) = try randomExport(smallConfig(channels: 1, size: 64), rng: &rng)
        // Tiny ImageNet's fixtures: val_3 is a grayscale JPEG, val_0 a colour one.
        let tiny = repositoryRoot + "/Tests/MBDataTests/Fixtures/tiny-imagenet-200/val/images/"
        let grayJPEG = try DecodedImage(contentsOf: tiny + "val_3.JPEG"), colourJPEG = try DecodedImage(contentsOf: tiny + "val_0.JPEG")
        XCTAssertEqual([grayJPEG.width, grayJPEG.height, grayJPEG.channels], [64, 64, 3])
        let plane = 64 * 64
        let expanded = try colour.inputBytes(grayJPEG, path: "val_3")
        XCTAssertEqual(expanded, grayJPEG.pixels)
        XCTAssertEqual(try grayscale64.inputBytes(grayJPEG, path: "val_3"), Array(grayJPEG.pixels[0..<plane]))
        XCTAssertEqual(try colour.inputBytes(colourJPEG, path: "val_0"), colourJPEG.pixels)
        XCTAssertThrowsError(try grayscale64.inputBytes(colourJPEG, path: "val_0")) {
            XCTAssertTrue("\($0)".contains("in colour (RGB); the model takes grayscale"), "\($0)")
        }
        // A grayscale PNG for an RGB model: three equal channels, as Tiny ImageNet's grayscale JPEGs.
        let gray28 = try DecodedImage(contentsOf: fixtures + "/digit-gray.png")
        let (_, colour28) = try randomExport(smallConfig(channels: 3, size: 28), rng: &rng)
        XCTAssertEqual(try colour28.inputBytes(gray28, path: "digit"), gray28.pixels + gray28.pixels + gray28.pixels)
    }

    func testImagesTheModelCannotTakeAreRefusedWithASentence() throws {
        var rng = SplitMix64(seed: 2)
        let (_, model) = try randomExport(smallConfig(channels: 1, size: 28), rng: &rng)
        let dir = try temporaryDirectory(for: self)
        let png = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/digit-gray.png"))
        try png.prefix(png.count / 2).write(to: URL(fileURLWithPath: dir + "/truncated.png"))
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/Tests/MBDataTests/Fixtures/tiny-imagenet-200/val/images/val_0.JPEG"))
        try jpeg.prefix(jpeg.count / 2).write(to: URL(fileURLWithPath: dir + "/truncated.jpg"))
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/notes.png"))
        let cases: [(String, [String])] = [
            (fixtures + "/small.png", ["image is 16x16; the model takes 28x28 images", "Resize it first"]),
            (fixtures + "/colour.png", ["in colour (RGB); the model takes grayscale", "Convert it first"]),
            (fixtures + "/deep.png", ["bit depth 16", "mbc reads 8-bit, non-interlaced"]),
            (fixtures + "/interlaced.png", ["interlaced", "Convert it"]),
            (fixtures + "/bad-crc.png", ["chunk `IDAT` fails its CRC", "not a readable PNG"]),
            (fixtures + "/huge.png", ["declares 60000x60000 pixels", "give a smaller image"]),
            (dir + "/truncated.png", ["not a readable PNG"]),
            (dir + "/truncated.jpg", ["does not decode as JPEG"]),
            (dir + "/notes.png", ["not a PNG or JPEG file"]),
            (dir + "/missing.png", ["file not found"]),
        ]
        for (path, words) in cases {
            XCTAssertThrowsError(try model.inputBytes(try DecodedImage(contentsOf: path), path: path), path) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(path), "\(path): \(text)")
                XCTAssertFalse(text.contains("\n"), "one sentence: \(text)")
                for w in words { XCTAssertTrue(text.contains(w), "\(path): `\(text)` lacks `\(w)`") }
            }
        }
    }
}
