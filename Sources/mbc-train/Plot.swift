import ArgumentParser
import Foundation
import MBBase
import MBTrain

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Learning curves as an SVG: test error (%) and training loss against epoch, runs overlaid, SGDR restarts dashed.")

    @Argument(help: "Run directories (each with eval.jsonl and config.yaml).")
    var runs: [String]

    @Option(name: .shortAndLong, help: "The SVG file to write.")
    var output = "curves.svg"

    func run() throws {
        try userErrors {
            let names = runs.map { ($0 as NSString).standardizingPath }.map { ($0 as NSString).lastPathComponent }
            let curves = try zip(runs, names).map { dir, name in
                try RunCurves(runDirectory: dir, name: names.filter { $0 == name }.count > 1 ? dir : name)
            }
            do {
                try Data(learningCurvesSVG(curves).utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                throw ConfigError("cannot write `\(output)` (\(systemErrorText(error))); choose another --output.")
            }
        }
    }
}
