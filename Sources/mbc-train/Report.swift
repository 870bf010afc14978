import ArgumentParser
import Foundation
import MBBase
import MBTrain

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One table from the evaluation logs (eval.jsonl) of one or more run directories.",
        discussion: """
        With --paper each run stands beside the paper's result for its model and dataset (Tables 1 \
        and 2, Tiny ImageNet): the paper's test accuracy, the run's, their difference, and the \
        epochs done against the paper's budget.
        """)

    @Argument(help: "Run directories.")
    var runs: [String]

    @Flag(name: .long, help: "Compare each run with the paper's result for its dataset and model (reads its config.yaml).")
    var paper = false

    @Flag(name: .long, help: "Print a Markdown table.")
    var markdown = false

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        try userErrors {
            var rows: [[String]] = [paper
                ? ["run", "dataset", "model", "paper", "epochs/paper", "paper top-1", "last top-1", "Δ top-1", "best top-1", "paper top-5", "last top-5"]
                : ["run", "epochs", "steps", "best top-1", "last top-1", "last top-5", "wall time", "img/s"]]
            var objects: [[String: Any]] = []
            for dir in runs {
                // A run that has not evaluated yet is skipped; a log that is not mbc's is an error.
                let log = EvalLog(runDirectory: dir)
                let text = log.jsonText
                guard let text, text.contains(where: { !$0.isWhitespace }) else {
                    let why = text == nil ? "no eval.jsonl" : "an empty eval.jsonl"
                    FileHandle.standardError.write(Data("warning: `\(dir)` has no evaluation records (\(why)); skipped\n".utf8))
                    continue
                }
                let records = try log.readRecords()
                let last = records.last!
                let best = records.map(\.testTop1).max()!
                let ips = records.map(\.imagesPerSecond).reduce(0, +) / Double(records.count)
                var object: [String: Any] = ["run": dir, "epochs": last.epoch, "steps": last.step, "best_top1": best, "last_top1": last.testTop1,
                                             "last_top5": last.testTop5, "elapsed_seconds": last.elapsedSeconds, "images_per_second": ips]
                if paper {
                    let config = try runConfig(dir)
                    let match = PaperResult.match(config)
                    let model = match?.sameModel == true ? "as paper" : config.model.shortDescription
                    let budget = match?.result.epochs.map(String.init) ?? "–"
                    rows.append([dir, config.data.dataset.rawValue, model, match?.result.source ?? "–", "\(last.epoch)/\(budget)",
                                 match.map { percent($0.result.top1) } ?? "–", percent(100 * last.testTop1),
                                 match.map { signed(100 * last.testTop1 - $0.result.top1) } ?? "–", percent(100 * best),
                                 match?.result.top5.map(percent) ?? "–", percent(100 * last.testTop5)])
                    if let match {
                        // Fractions as in eval.jsonl; the paper's figures have two decimals.
                        let fraction = { (percent: Double) in (percent * 100).rounded() / 10_000 }
                        object["paper"] = ["source": match.result.source, "top1": fraction(match.result.top1),
                                           "top5": match.result.top5.map { fraction($0) as Any } ?? NSNull(),
                                           "epochs": match.result.epochs.map { $0 as Any } ?? NSNull(), "same_model": match.sameModel]
                    }
                } else {
                    rows.append([dir, String(last.epoch), String(last.step), percent(100 * best), percent(100 * last.testTop1),
                                 percent(100 * last.testTop5), duration(last.elapsedSeconds), String(format: "%.1f", ips)])
                }
                objects.append(object)
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            for line in markdown ? markdownLines(rows, textColumns: paper ? 4 : 1) : tableLines(rows) { print(line) }
            if paper && rows.count > 1 {
                print("""

                Paper figures are test accuracies (%): Table 1 (MNIST, SVHN, CIFAR-10/100; [u] = unbinarized),
                Table 2 (CIFAR-10 64-64-128, k = 2/4/8), Tiny ImageNet (100 classes) from the text.
                Δ top-1 = last top-1 − paper, in points. epochs/paper = epochs done / the paper's budget
                (32 MNIST and SVHN, 256 CIFAR; none stated for Tiny ImageNet). model: "as paper", or the
                run's own when it differs from the paper's model for that row.
                """)
            }
            if rows.count == 1 { throw ExitCode(2) }
        }
    }

    func runConfig(_ dir: String) throws -> RunConfig {
        let path = dir + "/config.yaml"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError("`\(dir)` has no config.yaml; --paper needs it to know the run's dataset and model.")
        }
        return try RunConfig.load(path: path)
    }

    func percent(_ value: Double) -> String { String(format: "%.2f%%", value) }

    func signed(_ value: Double) -> String { String(format: "%+.2f", value) }

    func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }

    /// A Markdown table: header, separator, rows; the first `textColumns` columns left-aligned,
    /// the numbers after them right-aligned.
    func markdownLines(_ rows: [[String]], textColumns: Int) -> [String] {
        guard let header = rows.first else { return [] }
        let line = { (cells: [String]) in "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        return [line(header), "|" + header.indices.map { $0 < textColumns ? " --- |" : " ---: |" }.joined()] + rows.dropFirst().map(line)
    }
}
