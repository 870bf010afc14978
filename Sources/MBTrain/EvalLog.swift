import Foundation
import MBBase

/// One evaluation: a line of `eval.jsonl` and a row of `eval.csv` in the run directory.
public struct EvalRecord: Equatable {
    public var epoch: Int
    public var step: Int
    public var lr: Double
    public var trainLoss: Double
    public var trainTop1: Double
    public var testLoss: Double
    public var testTop1: Double
    public var testTop5: Double
    public var imagesPerSecond: Double
    public var elapsedSeconds: Double

    public init(epoch: Int, step: Int, lr: Double, trainLoss: Double, trainTop1: Double, testLoss: Double,
                testTop1: Double, testTop5: Double, imagesPerSecond: Double, elapsedSeconds: Double) {
        self.epoch = epoch
        self.step = step
        self.lr = lr
        self.trainLoss = trainLoss
        self.trainTop1 = trainTop1
        self.testLoss = testLoss
        self.testTop1 = testTop1
        self.testTop5 = testTop5
        self.imagesPerSecond = imagesPerSecond
        self.elapsedSeconds = elapsedSeconds
    }

    public static let columns = ["epoch", "step", "lr", "train_loss", "train_top1", "test_loss", "test_top1",
                                 "test_top5", "images_per_second", "elapsed_seconds"]

    var values: [String] {
        [String(epoch), String(step), String(format: "%.6g", lr), String(format: "%.6f", trainLoss),
         String(format: "%.6f", trainTop1), String(format: "%.6f", testLoss), String(format: "%.6f", testTop1),
         String(format: "%.6f", testTop5), String(format: "%.1f", imagesPerSecond), String(format: "%.1f", elapsedSeconds)]
    }

    public var json: String {
        "{" + zip(EvalRecord.columns, values).map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
    }

    public var csv: String { values.joined(separator: ",") }

    /// Parses a line of `eval.jsonl`.
    public init?(json line: String) {
        guard let data = line.data(using: .utf8),
              let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        func d(_ k: String) -> Double? { (o[k] as? NSNumber)?.doubleValue }
        guard let epoch = d("epoch"), let step = d("step"), let lr = d("lr"), let tl = d("train_loss"),
              let t1 = d("train_top1"), let vl = d("test_loss"), let v1 = d("test_top1"), let v5 = d("test_top5"),
              let ips = d("images_per_second"), let el = d("elapsed_seconds") else { return nil }
        self.init(epoch: Int(epoch), step: Int(step), lr: lr, trainLoss: tl, trainTop1: t1, testLoss: vl,
                  testTop1: v1, testTop5: v5, imagesPerSecond: ips, elapsedSeconds: el)
    }
}

/// Appends evaluation records to `eval.jsonl` and `eval.csv`. A resumed run first drops the
/// records after its checkpoint's step, then appends.
public struct EvalLog {
    public let jsonPath: String
    public let csvPath: String

    public init(runDirectory: String) {
        jsonPath = runDirectory + "/eval.jsonl"
        csvPath = runDirectory + "/eval.csv"
    }

    public func append(_ record: EvalRecord) throws {
        if !FileManager.default.fileExists(atPath: csvPath) {
            try appendLine(EvalRecord.columns.joined(separator: ","), to: csvPath)
        }
        try appendLine(record.json, to: jsonPath)
        try appendLine(record.csv, to: csvPath)
    }

    /// Drops the records after `step` from both files (a resumed run evaluates those steps
    /// again), rewriting each file atomically; rows that do not parse are kept.
    public func removeRecords(after step: Int) throws {
        for (path, header) in [(jsonPath, 0), (csvPath, 1)] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            let kept = lines.enumerated().filter { i, line in
                if i < header { return true }
                let recordStep = path == jsonPath ? EvalRecord(json: line)?.step : Int(line.split(separator: ",").dropFirst().first ?? "")
                return (recordStep ?? step) <= step
            }.map(\.element)
            guard kept.count != lines.count else { continue }
            do {
                try Data(kept.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw CheckpointError("cannot rewrite `\(path)` (\(systemErrorText(error))); check that the run directory is writable.")
            }
        }
    }

    public func records() -> [EvalRecord] {
        guard let text = try? String(contentsOfFile: jsonPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { EvalRecord(json: String($0)) }
    }

    /// The records, for commands that read a run's logs: a missing or empty log, or a line that
    /// is not a record, is an error naming the file.
    public func readRecords() throws -> [EvalRecord] {
        let runDirectory = (jsonPath as NSString).deletingLastPathComponent
        guard let text = jsonText else {
            throw ConfigError("`\(runDirectory)` has no readable eval.jsonl; give a run directory that mbc-train wrote (it logs from the first evaluation on).")
        }
        var records: [EvalRecord] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let record = EvalRecord(json: String(line)) else {
                throw ConfigError("`\(jsonPath)` line \(n + 1) is not an evaluation record; is it mbc-train's log?")
            }
            records.append(record)
        }
        guard !records.isEmpty else { throw ConfigError("`\(jsonPath)` holds no evaluation yet.") }
        return records
    }

    /// The text of `eval.jsonl` (bytes that are not UTF-8 replaced), or nil when it is missing or
    /// not a regular file.
    public var jsonText: String? {
        let attributes = try? FileManager.default.attributesOfItem(atPath: jsonPath)
        guard attributes?[.type] as? FileAttributeType == .typeRegular, let data = FileManager.default.contents(atPath: jsonPath) else {
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func appendLine(_ line: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CheckpointError("cannot create `\(path)`; check that the run directory is writable.")
            }
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((line + "\n").utf8))
        } catch {
            throw CheckpointError("cannot append to `\(path)` (\(systemErrorText(error))); check the free space and that the run directory is writable.")
        }
    }
}
