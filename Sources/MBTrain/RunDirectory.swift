import Foundation
import MBBase

/// A run directory and the rules that keep what mbc wrote there: `config.yaml`, `eval.jsonl`,
/// `eval.csv`, `checkpoints/` and `tensorboard/`.
///
/// - A directory that holds any of them is *used*. Only `--resume` continues a used directory;
///   nothing mbc wrote is overwritten or appended to otherwise.
/// - Resuming from a checkpoint older than the directory's newest is refused: the newer files
///   would be replaced by a different history. Branching from it goes into a new directory.
/// - Nothing is written before the start has succeeded (config read, data loaded, checkpoint
///   read), so a failed start changes no file.
public struct RunDirectory {
    public let path: String
    public let checkpoints: CheckpointDirectory
    public let log: EvalLog

    /// The entries mbc writes, relative to the directory.
    public static let entries = ["config.yaml", "eval.jsonl", "eval.csv", "checkpoints", "tensorboard"]

    public init(path: String) {
        self.path = path
        checkpoints = CheckpointDirectory(runDirectory: path)
        log = EvalLog(runDirectory: path)
    }

    public var configPath: String { path + "/config.yaml" }

    /// The entries of an earlier run present here (an empty folder does not count).
    public var earlierRunEntries: [String] {
        let fm = FileManager.default
        return RunDirectory.entries.filter { entry in
            let full = path + "/" + entry
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: full, isDirectory: &isDirectory) else { return false }
            return !isDirectory.boolValue || !((try? fm.contentsOfDirectory(atPath: full)) ?? []).isEmpty
        }
    }

    /// Refuses a path that cannot become a directory mbc can write: an existing file, a path
    /// below a file, or a folder without write permission. Writes nothing.
    public func checkWritable() throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        var existing = (path as NSString).standardizingPath
        // The deepest existing ancestor decides.
        while !fm.fileExists(atPath: existing, isDirectory: &isDirectory) {
            let parent = (existing as NSString).deletingLastPathComponent
            if parent == existing || parent.isEmpty { existing = "."; break }
            existing = parent
        }
        if !fm.fileExists(atPath: existing, isDirectory: &isDirectory) { isDirectory = true }
        guard isDirectory.boolValue else {
            throw ConfigError("the run directory `\(path)` cannot be created: `\(existing)` is a file, not a folder; choose another --run-dir.")
        }
        guard fm.isWritableFile(atPath: existing) else {
            throw ConfigError("the run directory `\(path)` cannot be written: `\(existing)` is not writable; choose another --run-dir.")
        }
    }

    /// Creates the directory and `checkpoints/`, and writes the resolved config.
    public func create(configYAML: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: checkpoints.path, withIntermediateDirectories: true)
            try Data(configYAML.utf8).write(to: URL(fileURLWithPath: configPath), options: .atomic)
        } catch {
            throw ConfigError("cannot write to the run directory `\(path)` (\(systemErrorText(error))); check the free space and permissions, or choose another --run-dir.")
        }
    }

    /// The step and cycle checkpoints after `step`, except `checkpoint` itself.
    public func checkpoints(after step: Int, except checkpoint: String) -> [String] {
        let own = (checkpoint as NSString).standardizingPath
        return checkpoints.all().filter { $0.step > step && ($0.path as NSString).standardizingPath != own }.map(\.path)
    }

    /// True when `file` lies in this directory's `checkpoints/`.
    public func holds(_ file: String) -> Bool {
        let folder = (URL(fileURLWithPath: checkpoints.path).standardizedFileURL.path as NSString).resolvingSymlinksInPath
        let parent = (URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().path as NSString).resolvingSymlinksInPath
        return folder == parent
    }
}
