import Foundation
import XCTest
@testable import MBCore

final class SafeTensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mbc-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    static let weights: [Float] = [1, -2.5, .pi, 0, -0.0, 1e-38]

    static func sample() -> SafeTensors {
        SafeTensors(tensors: [
            "conv.weight": SafeTensor(shape: [2, 1, 3], floats: weights),
            "bits": SafeTensor(shape: [3], int32s: [-1, 0, .max]),
            "labels": SafeTensor(shape: [2], uint8s: [7, 255]),
            "step": SafeTensor(shape: [], int64s: [1 << 40]),
            "none": SafeTensor(shape: [0, 4], floats: []),
        ], metadata: ["format": "mbc-checkpoint", "version": "1", "note": "quotes \" and / survive"])
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A file with `header` as its JSON (unpadded) and `buffer` as its data.
    func rawFile(_ name: String, header: String, buffer: [UInt8]) -> String {
        let json = Array(header.utf8)
        let bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + buffer
        XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: Data(bytes)))
        return path(name)
    }

    func assertRefused(_ file: String, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors(contentsOf: file), line: line) { error in
            let text = "\(error)"
            for w in [file] + words { XCTAssertTrue(text.contains(w), "`\(text)` does not mention `\(w)`", line: line) }
        }
    }

    func testRoundTripKeepsTensorsMetadataAndAlignment() throws {
        let original = Self.sample()
        try original.write(to: path("a.safetensors"))
        let read = try SafeTensors(contentsOf: path("a.safetensors"))
        XCTAssertEqual(read, original)
        XCTAssertEqual(read.tensors["conv.weight"]?.floats?.map(\.bitPattern), Self.weights.map(\.bitPattern))
        XCTAssertEqual(read.tensors["step"]?.int64s, [1 << 40])
        XCTAssertNil(read.tensors["step"]?.floats, "an I64 tensor is not readable as floats")

        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path("a.safetensors"))))
        let headerLength = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(headerLength % 8, 0, "the header is padded so the data is 8-byte aligned")
        XCTAssertEqual(bytes.count, 8 + headerLength + 24 + 12 + 2 + 8)
    }

    func testWriteReplacesTheFileAndLeavesNoTemporaryFile() throws {
        try Self.sample().write(to: path("b.safetensors"))
        let second = SafeTensors(tensors: ["x": SafeTensor(shape: [1], floats: [42])])
        try second.write(to: path("b.safetensors"))
        XCTAssertEqual(try SafeTensors(contentsOf: path("b.safetensors")), second)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["b.safetensors"])
    }

    func testWriteToAMissingDirectorySaysWhatToDo() {
        let file = path("missing/c.safetensors")
        XCTAssertThrowsError(try Self.sample().write(to: file)) { error in
            XCTAssertTrue("\(error)".contains(file) && "\(error)".contains("directory exists"), "\(error)")
        }
    }

    func testTruncatedFilesAreRefused() throws {
        try Self.sample().write(to: path("full.safetensors"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path("full.safetensors")))
        for (name, keep, words) in [("cut-data", bytes.count - 3, ["cover", "truncated"]),
                                    ("cut-header", 40, ["header should be", "truncated"]),
                                    ("cut-length", 5, ["shorter than the 8-byte header length"])] {
            XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: bytes.prefix(keep)))
            assertRefused(path(name), mentioning: words)
        }
    }

    func testCorruptHeadersAreRefusedWithTheReason() {
        let f32 = "\"dtype\":\"F32\""
        assertRefused(rawFile("brace", header: "[\"a\"]", buffer: []), mentioning: ["does not start with `{`"])
        assertRefused(rawFile("json", header: "{\"a\":{\(f32),\"shape\":[1],}", buffer: [0, 0, 0, 0]),
                      mentioning: ["not a valid JSON object"])
        assertRefused(rawFile("dtype", header: "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", buffer: [0, 0, 0, 0]),
                      mentioning: ["`a`", "F33"])
        assertRefused(rawFile("size", header: "{\"a\":{\(f32),\"shape\":[2],\"data_offsets\":[0,4]}}", buffer: [0, 0, 0, 0]),
                      mentioning: ["`a`", "needs 8 bytes"])
        assertRefused(rawFile("hole", header: "{\"a\":{\(f32),\"shape\":[1],\"data_offsets\":[4,8]}}", buffer: [UInt8](repeating: 0, count: 8)),
                      mentioning: ["`a`", "hole"])
        assertRefused(rawFile("overlap", header: "{\"a\":{\(f32),\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\(f32),\"shape\":[1],\"data_offsets\":[2,6]}}",
                              buffer: [UInt8](repeating: 0, count: 6)), mentioning: ["`b`", "overlap"])
        assertRefused(rawFile("tail", header: "{\"a\":{\(f32),\"shape\":[1],\"data_offsets\":[0,4]}}", buffer: [UInt8](repeating: 0, count: 5)),
                      mentioning: ["cover 4 bytes", "has 5"])
        assertRefused(rawFile("meta", header: "{\"__metadata__\":{\"step\":3}}", buffer: []), mentioning: ["__metadata__"])
        let huge = withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { Array($0) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path("huge"), contents: Data(huge + Array("{}".utf8))))
        assertRefused(path("huge"), mentioning: ["200000000", "limit"])
    }

    func testReadsAFileWrittenByPython() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/python_written.safetensors").path
        let file = try SafeTensors(contentsOf: fixture)
        XCTAssertEqual(file.metadata, ["format": "mbc-test", "version": "1"])
        XCTAssertEqual(Set(file.tensors.keys), ["weight", "packed", "bytes", "step", "empty"])
        XCTAssertEqual(file.tensors["weight"]?.shape, [2, 3])
        XCTAssertEqual(file.tensors["weight"]?.floats?.map(\.bitPattern),
                       [1.5, -2.25, 3.0e-8, -0.0, 1e-45, 3.4028235e38].map { Float($0).bitPattern })
        XCTAssertEqual(file.tensors["packed"]?.int32s, [-1, 0, .max, .min])
        XCTAssertEqual(file.tensors["bytes"]?.uint8s, [0, 1, 127, 128, 255])
        XCTAssertEqual(file.tensors["step"]?.shape, [])
        XCTAssertEqual(file.tensors["step"]?.int64s, [1_234_567_890_123])
        XCTAssertEqual(file.tensors["empty"]?.shape, [0, 3])
        XCTAssertEqual(file.tensors["empty"]?.floats, [])
    }
}
