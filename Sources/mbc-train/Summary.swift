import ArgumentParser
import Foundation
import MBCliqueNet
import MBTrain

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the model summary: parameters, 1-bit storage, multiply-adds per image.")

    @Option(name: .long, help: "The YAML config file (its `model:` section is used).")
    var config: String

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set model.k=8 (repeatable).")
    var overrides: [String] = []

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let run = try userErrors { try RunConfig.load(path: config, overrides: overrides) }
        let summary = ModelSummary(model: try MBCliqueNet(config: run.model))
        print(json ? summary.json : summary.table)
    }
}
