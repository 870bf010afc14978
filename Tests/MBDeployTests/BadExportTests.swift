import Foundation
import MBCore
@testable import MBDeploy
import MBTestSupport
import XCTest

/// An exported file that is damaged, changed, of another kind or assembled from another model is
/// refused with one sentence naming the file and what to do; nothing is half-loaded.
final class BadExportTests: XCTestCase {
    func refusal(_ path: String) -> String? {
        do { _ = try ExportedModel(contentsOf: path); return nil } catch { return "\(error)" }
    }

    func testDamagedChangedAndForeignFilesAreRefused() throws {
        var rng = SplitMix64(seed: 3)
        let dir = try temporaryDirectory(for: self)
        let (_, model) = try randomExport(smallConfig(channels: 1, size: 28), rng: &rng)
        let good = dir + "/good.safetensors"
        try model.write(to: good)
        XCTAssertNil(refusal(good))
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        func variant(_ name: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
            var b = bytes
            edit(&b)
            try Data(b).write(to: URL(fileURLWithPath: dir + "/" + name))
            return dir + "/" + name
        }
        func rewritten(_ name: String, _ edit: (inout SafeTensors) -> Void) throws -> String {
            var file = try SafeTensors(contentsOf: good)
            edit(&file)
            file.metadata["checksum"] = file.checksum   // a consistent file, but not an export of this model
            try file.write(to: dir + "/" + name)
            return dir + "/" + name
        }
        let headerEnd = 8 + Int(bytes[0]) + Int(bytes[1]) << 8
        let header = String(decoding: bytes[8..<headerEnd], as: UTF8.self)
        let classOffset = 8 + header.utf8.distance(from: header.startIndex, to: header.range(of: "c3")!.lowerBound)
        let cases: [(String, [String])] = [
            (try variant("truncated.safetensors") { $0.removeLast(100) }, ["truncated"]),
            (try variant("tensor-byte.safetensors") { $0[$0.count - 3] ^= 0x10 }, ["fails its checksum", "Export it again"]),
            (try variant("class-name.safetensors") { $0[classOffset] = UInt8(ascii: "x") }, ["fails its checksum"]),
            (try rewritten("version.safetensors") { $0.metadata["format_version"] = "2" }, ["format version 2", "reads version 1"]),
            (try rewritten("other-model.safetensors") { $0.metadata["model"] = $0.metadata["model"]!.replacingOccurrences(of: "[8, 8]", with: "[8, 16]") },
             ["does not fit the model its metadata describes", "blocks.1.conv1x1.signs"]),
            (try rewritten("no-format.safetensors") { $0.metadata["format"] = nil }, ["is not an exported mbc model", "mbc-train export"]),
            (try rewritten("mean.safetensors") { $0.metadata["input_mean"] = "[0.1, 0.2]" }, ["input_mean"]),
            (dir + "/missing.safetensors", ["cannot read the file"]),
        ]
        for (path, words) in cases {
            guard let text = refusal(path) else { XCTFail("\(path) was accepted"); continue }
            XCTAssertTrue(text.contains(path), "\(path): \(text)")
            XCTAssertFalse(text.contains("\n"), "one sentence: \(text)")
            for w in words { XCTAssertTrue(text.contains(w), "\(path): `\(text)` lacks `\(w)`") }
        }
    }
}
