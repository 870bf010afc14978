import Foundation
import MBCliqueNet
import MBData

/// The whole configuration of a run, read from YAML with `--set` overrides applied.
/// Each section is read by its own function; unknown keys anywhere are rejected.
public struct RunConfig {
    public var model: ModelConfig
    public var training: TrainingConfig
    public var data: DataConfig
    /// The resolved configuration (every key, defaults filled in), as written to the run directory.
    public var resolved: ConfigValue

    /// Reads `path`, applies `overrides` (`key.path=value`), validates everything.
    public static func load(path: String, overrides: [String] = []) throws -> RunConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigError("cannot read config file `\(path)`; check the path (configs/ holds the shipped ones).")
        }
        defer { try? handle.close() }
        // One byte past the limit is enough to refuse a larger file (or an endless one such as /dev/zero).
        return try parse(bytes: (try? handle.read(upToCount: ConfigValue.maxBytes + 1)) ?? Data(),
                         source: path, overrides: overrides)
    }

    /// Reads the bytes of a config file (`source` names it in errors), applies `overrides`,
    /// validates everything: what `load(path:)` does once the file is read.
    public static func parse(bytes data: Data, source path: String, overrides: [String] = []) throws -> RunConfig {
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError("`\(path)` is not UTF-8 text; a config is a YAML file.")
        }
        var tree = try ConfigValue.parse(yaml: text, source: path)
        if case .scalar(let s) = tree, s.isEmpty { tree = .map([]) }
        for o in overrides { try tree.apply(override: o) }
        do {
            return try RunConfig(tree: tree)
        } catch let e as ConfigError {
            throw ConfigError("\(path): \(e.message)")
        }
    }

    /// The config a checkpoint recorded (once its checksum matches), with `data.root` set back to
    /// the default `data` (the checkpoint does not choose which folder is read: give
    /// `--set data.root=DIR`), then `overrides`. Checked like any config, sizes included.
    public static func recorded(in checkpoint: String, overrides: [String] = []) throws -> RunConfig {
        var tree = try ConfigValue.parse(yaml: try Checkpoint.config(of: checkpoint), source: "\(checkpoint) (recorded config)")
        // A recorded config that is not a mapping of mappings stays as it is: reading it says what is wrong.
        try? tree.set(path: ["data", "root"], to: .scalar(DataConfig().root))
        for o in overrides { try tree.apply(override: o) }
        do {
            return try RunConfig(tree: tree)
        } catch let e as ConfigError {
            throw ConfigError("\(checkpoint) (recorded config): \(e.message)")
        }
    }

    public init(tree: ConfigValue) throws {
        let root = try ConfigSection(path: "", value: tree)
        let modelSection = try root.section("model")
        model = try ModelConfig(section: modelSection)
        root.record(section: modelSection)
        let dataSection = try root.section("data")
        data = try DataConfig(section: dataSection)
        root.record(section: dataSection)
        training = try TrainingConfig(root: root)
        try root.finish()
        resolved = root.resolvedValue
        try MemoryEstimate(self, localBatch: 0).check()
    }
}
