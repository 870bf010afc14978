import XCTest
import MBData
@testable import MBTrain

final class DataConfigTests: XCTestCase {
    func data(_ yaml: String, _ overrides: [String] = []) throws -> DataConfig {
        var tree = try ConfigValue.parse(yaml: yaml, source: "test")
        for o in overrides { try tree.apply(override: o) }
        return try RunConfig(tree: tree).data
    }

    func assertRejects(_ yaml: String, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try data(yaml), line: line) { error in
            for w in words { XCTAssertTrue("\(error)".contains(w), "`\(error)` does not mention `\(w)`", line: line) }
        }
    }

    func testDefaultsAreEmbeddedMNISTWithThePapersAugmentation() throws {
        let d = try data("")
        XCTAssertEqual(d.dataset, .mnist)
        XCTAssertEqual(d.root, "data")
        XCTAssertTrue(d.flip)
        XCTAssertEqual(d.cropPadding, 4)
        XCTAssertEqual(d.trainingAugmentation, Augmentation(flip: true, padding: 4))
        XCTAssertNil(d.mean)
        XCTAssertNil(d.classes)
    }

    func testKeysAndOverrides() throws {
        let d = try data("""
            data:
              dataset: tiny-imagenet
              classes: 100
              class_seed: 3
              flip: false
              mean: [0.5, 0.4, 0.3]
              std: [0.2, 0.2, 0.2]
              eval_batch: 100
            """, ["data.root=/datasets"])
        XCTAssertEqual(d.dataset, .tinyImageNet)
        XCTAssertEqual(d.classes, 100)
        XCTAssertEqual(d.classSeed, 3)
        XCTAssertFalse(d.flip)
        XCTAssertEqual(d.mean, [0.5, 0.4, 0.3])
        XCTAssertEqual(d.root, "/datasets")
        XCTAssertEqual(d.evalBatch, 100)
        let c = try data("data:\n  dataset: cifar100\n  cifar100_labels: coarse\n")
        XCTAssertEqual(c.cifar100Labels, .coarse)
        let s = try data("data:\n  dataset: synthetic\n  synthetic_shape: [1, 8, 8]\n")
        XCTAssertEqual(s.classes, 10)
        XCTAssertEqual(s.syntheticShape, [1, 8, 8])
    }

    func testResolvedConfigRecordsTheDataSection() throws {
        let run = try RunConfig(tree: try ConfigValue.parse(yaml: "data:\n  dataset: svhn\n", source: "test"))
        let text = run.resolved.yaml()
        XCTAssertTrue(text.contains("data:\n  dataset: svhn\n  root: data\n"), text)
        XCTAssertTrue(text.contains("  mean: ~\n"), text)
        XCTAssertEqual(try data(text), run.data, "the resolved text reads back as the same data config")
        let given = try RunConfig(tree: try ConfigValue.parse(
            yaml: "data:\n  dataset: tiny-imagenet\n  classes: 100\n  mean: [0.5, 0.5, 0.5]\n  std: [0.25, 0.25, 0.25]\n",
            source: "test"))
        XCTAssertEqual(try data(given.resolved.yaml()), given.data)
    }

    func testBadValuesAreRejected() {
        assertRejects("data:\n  dataset: imagenet\n", mentioning: ["data.dataset", "tiny-imagenet"])
        assertRejects("data:\n  mean: [0.5]\n", mentioning: ["data.mean", "data.std", "both"])
        assertRejects("data:\n  mean: [0.5]\n  std: [0]\n", mentioning: ["data.std", "above 0"])
        assertRejects("data:\n  dataset: cifar10\n  classes: 5\n", mentioning: ["data.classes", "cifar10"])
        assertRejects("data:\n  fliip: true\n", mentioning: ["data.fliip", "data.flip"])
        assertRejects("data:\n  dataset: synthetic\n  synthetic_shape: [3, 32]\n", mentioning: ["synthetic_shape"])
    }
}
