import ArgumentParser
import Foundation
import MBCore
import MBData
import MBDeploy

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify PNG or JPEG images with an exported model: the top classes with probabilities.",
        discussion: """
            Images must have the model's size (they are not resized). A grayscale image is given 3 \
            equal channels for an RGB model; an RGB image with equal channels is read as grayscale \
            for a grayscale model; colour for a grayscale model is refused. Alpha is dropped. PNG: \
            8-bit grayscale, RGB, palette, gray+alpha or RGBA, not interlaced.
            """)

    @Option(name: .long, help: "The exported model (mbc-train export).")
    var model: String

    @Option(name: .long, help: "How many classes to list per image.")
    var top = 5

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Argument(help: "The images (.png, .jpg).")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image.") }
        if top < 1 { throw ValidationError("--top must be at least 1.") }
    }

    func run() throws {
        BLASThreads.set(1)
        let (exported, inputs) = try userErrors {
            let exported = try ExportedModel(contentsOf: model)
            return (exported, try images.map { try exported.inputBytes(try DecodedImage(contentsOf: $0), path: $0) })
        }
        let predictions = DeployedModel(exported).predict(inputs, top: min(top, exported.config.classes))
        if json {
            let objects = zip(images, predictions).map { path, p -> [String: Any] in
                ["image": path, "top": p.top.map { ["index": $0.index, "class": $0.name, "probability": $0.probability] }]
            }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for (path, p) in zip(images, predictions) {
            print(path)
            for (rank, entry) in p.top.enumerated() {
                print(String(format: "  %d. %@  %6.2f%%", rank + 1, entry.name, 100 * entry.probability))
            }
        }
    }
}
