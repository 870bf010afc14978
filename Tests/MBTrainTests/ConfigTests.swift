import XCTest
@testable import MBTrain

final class ConfigTests: XCTestCase {
    func config(_ yaml: String, _ overrides: [String] = []) throws -> RunConfig {
        var tree = try ConfigValue.parse(yaml: yaml, source: "test")
        for o in overrides { try tree.apply(override: o) }
        return try RunConfig(tree: tree)
    }

    func assertRejects(_ yaml: String, _ overrides: [String] = [], mentioning words: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try config(yaml, overrides), file: file, line: line) { error in
            let text = "\(error)"
            for w in words { XCTAssertTrue(text.contains(w), "`\(text)` does not mention `\(w)`", file: file, line: line) }
        }
    }

    func testDefaultsAreTheSpecsReadingR2() throws {
        let c = try config("")
        XCTAssertEqual(c.model.widths, [64, 64, 128])
        XCTAssertEqual(c.model.k, 4)
        XCTAssertEqual(c.model.layers, 4)
        XCTAssertTrue(c.model.compression)
        XCTAssertEqual(c.model.binarize, .all)
    }

    func testOverridesApplyAfterTheFile() throws {
        let c = try config("model:\n  k: 2\n", ["model.k=8", "model.widths=[8, 16]"])
        XCTAssertEqual(c.model.k, 8)
        XCTAssertEqual(c.model.widths, [8, 16])
    }

    func testBinarizeFalseIsTheUnbinarizedNetwork() throws {
        XCTAssertEqual(try config("model:\n  binarize: false\n").model.binarize, .none)
        XCTAssertEqual(try config("model:\n  binarize: except-stem-head\n").model.binarize, .exceptStemHead)
    }

    func testBadConfigurationsAreRejectedWithTheKeyNamed() {
        assertRejects("model:\n  widths: [64, 66, 128]\n", mentioning: ["model.widths[1]", "divisible", "model.k"])
        assertRejects("model:\n  layers: 0\n", mentioning: ["model.layers", "at least 2"])
        assertRejects("model:\n  kk: 4\n", mentioning: ["unknown key `model.kk`", "did you mean `model.k`"])
        assertRejects("modle:\n  k: 4\n", mentioning: ["unknown key `modle`", "did you mean `model`"])
        assertRejects("model:\n  image_size: -32\n", mentioning: ["model.image_size", "at least 1"])
        assertRejects("model:\n  k: four\n", mentioning: ["model.k", "not a whole number"])
        assertRejects("model:\n  binarize: maybe\n", mentioning: ["model.binarize", "except-stem-head"])
        assertRejects("model:\n  image_size: 30\n", mentioning: ["model.image_size", "multiple of 4"])
        assertRejects("model: [1, 2]\n", mentioning: ["`model` must be a mapping"])
    }

    /// The resolved config (config.yaml, a checkpoint's record) reads back as written, whatever a
    /// string holds: a data root with `: ` or ` #` in it, outer spaces, quotes, brackets, tabs.
    func testStringsReadBackAsWritten() throws {
        let strings = ["data", "/data/mnist", "/data/run: 1", "/data/x #y", "#root", "- x", "-5", "1.0e-5", "a,b", "[x]", "{y}",
                       " padded ", "it's", "say \"hi\"", "tab\there", "line\nbreak", "back\\slash", "ends:", ":", "-", "?", "*star",
                       "&anchor", "!tag", "|", ">", "%x", "@x", "`x`", "null", "~", "true", "0x10", "é ü 字"]
        for text in strings {
            let tree = ConfigValue.map([ConfigEntry(key: "data", value: .map([ConfigEntry(key: "root", value: .scalar(text)),
                                                                               ConfigEntry(key: "list", value: .list([.scalar(text), .scalar("1")]))]))])
            let read = try ConfigValue.parse(yaml: tree.yaml(), source: "test")
            XCTAssertEqual(read, tree, "`\(text)` was written as:\n\(tree.yaml())")
        }
    }

    func testResolvedConfigListsEveryKeyWithItsValue() throws {
        let c = try config("model:\n  k: 2\n")
        let text = c.resolved.yaml()
        XCTAssertTrue(text.contains("model:\n"))
        XCTAssertTrue(text.contains("  k: 2\n"))
        XCTAssertTrue(text.contains("  widths: [64, 64, 128]\n"))
        // The resolved text reads back as the same configuration.
        XCTAssertEqual(try config(text).model, c.model)
    }
}
