import ArgumentParser
import Foundation
import MBBase
import MBTrain

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One table from the evaluation logs (eval.jsonl) of one or more run directories.")

    @Argument(help: "Run directories.")
    var runs: [String]

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        var rows: [[String]] = [["run", "epochs", "steps", "best top-1", "last top-1", "last top-5", "wall time", "img/s"]]
        var objects: [[String: Any]] = []
        for dir in runs {
            let records = EvalLog(runDirectory: dir).records()
            guard let last = records.last else {
                FileHandle.standardError.write(Data("warning: `\(dir)` has no evaluation records (no eval.jsonl); skipped\n".utf8))
                continue
            }
            let best = records.map(\.testTop1).max()!
            let ips = records.map(\.imagesPerSecond).reduce(0, +) / Double(records.count)
            rows.append([dir, String(last.epoch), String(last.step), String(format: "%.2f%%", 100 * best),
                         String(format: "%.2f%%", 100 * last.testTop1), String(format: "%.2f%%", 100 * last.testTop5),
                         duration(last.elapsedSeconds), String(format: "%.1f", ips)])
            objects.append(["run": dir, "epochs": last.epoch, "steps": last.step, "best_top1": best, "last_top1": last.testTop1,
                            "last_top5": last.testTop5, "elapsed_seconds": last.elapsedSeconds, "images_per_second": ips])
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for line in tableLines(rows) { print(line) }
        if rows.count == 1 { throw ExitCode(2) }
    }

    func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }
}
