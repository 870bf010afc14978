import ArgumentParser
import Foundation
import MBData
import MBTrain

struct InspectData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect-data",
        abstract: "Read one split as the trainer does and print its count, classes, label histogram and pixel statistics (raw 0-255 bytes, before normalisation and augmentation).")

    @Option(name: .long, help: "The YAML config file (its `data:` section is used).")
    var config: String

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set data.dataset=cifar10 (repeatable).")
    var overrides: [String] = []

    @Option(name: .customLong("data-root"), help: "The data root, overriding data.root.")
    var dataRoot: String?

    @Option(name: .long, help: "The split to read: train or test.")
    var split: String = "train"

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let (data, chosen, stats) = try userErrors { () throws -> (Dataset, Split, ChannelStatistics) in
            guard let chosen = Split(rawValue: split) else {
                throw ConfigError("--split \(split): expected train or test.")
            }
            var settings = try RunConfig.load(path: config, overrides: overrides).data
            if let dataRoot { settings.root = dataRoot }
            let data = try loadDataset(settings, split: chosen)
            return (data, chosen, ChannelStatistics(data))
        }
        let means = stats.channelMean.map { String(format: "%.6f", $0) }
        if json {
            var fields = [
                "\"split\": \"\(chosen.rawValue)\"",
                "\"count\": \(stats.count)",
                "\"classes\": \(data.classes)",
                "\"shape\": [\(data.channels), \(data.height), \(data.width)]",
                "\"label_histogram\": [\(stats.labelHistogram.map(String.init).joined(separator: ", "))]",
                "\"pixel_sum\": \(stats.pixelSum)",
                "\"channel_mean\": [\(means.joined(separator: ", "))]",
            ]
            if !data.classNames.isEmpty {
                fields.append("\"class_names\": [\(data.classNames.map { "\"\($0)\"" }.joined(separator: ", "))]")
            }
            print("{" + fields.joined(separator: ", ") + "}")
        } else {
            print("split          \(chosen.rawValue)")
            print("count          \(stats.count)")
            print("classes        \(data.classes)")
            print("shape          \(data.channels)x\(data.height)x\(data.width)")
            print("labels         \(stats.labelHistogram.map(String.init).joined(separator: " "))")
            print("pixel sum      \(stats.pixelSum)")
            print("channel mean   \(means.joined(separator: " ")) (0-255)")
            if !data.classNames.isEmpty { print("class names    \(data.classNames.joined(separator: " "))") }
        }
    }
}
