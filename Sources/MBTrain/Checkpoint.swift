import Foundation
import MBBase
import MBCliqueNet
import MBCore
import MBData

/// A training checkpoint: one safetensors file with the parameters (by name), the BatchNorm
/// running statistics averaged over the ranks (by name), each rank's own running statistics
/// (`ranks.running_statistics`, world size × state count, row r for rank r, so that a resumed
/// run is bitwise the uninterrupted one), the SGD momentum (`momentum.<name>`) and metadata strings:
/// format and version, global step, epoch, world size, seed, the resolved config, the class list,
/// the input normalization, the elapsed training time, and a checksum of every tensor byte.
public struct Checkpoint {
    public static let format = "mbc-checkpoint"
    /// Version 2: the checksum covers the metadata too (version 1's covered the tensors only, so
    /// an edited step or seed went unnoticed; version 1 files are refused).
    public static let version = "2"

    public var step: Int
    public var epoch: Int
    public var worldSize: Int
    public var seed: Int
    public var elapsedSeconds: Double
    public var bestTop1: Double
    public var configYAML: String
    public var classNames: [String]
    /// The per-channel input mean and std training used (absent from checkpoints of older mbc).
    public var normalization: Normalization?
    /// Each rank's running statistics, rank-major (world size × state count); nil in a file
    /// written without them.
    public var statisticsByRank: [Float]? = nil

    /// Writes the model's tensors and `momentum` atomically (temporary file, fsync, rename).
    public func write(model: MBCliqueNet, momentum: Buffer, to path: String) throws {
        var tensors = model.namedTensors()
        for info in model.parameters.infos {
            let values = Array(UnsafeBufferPointer(start: momentum.pointer + info.offset, count: info.count))
            tensors[Checkpoint.momentumPrefix + info.name] = SafeTensor(shape: info.shape, floats: values)
        }
        if let statisticsByRank {
            precondition(statisticsByRank.count == worldSize * model.state.count)
            tensors[Checkpoint.statisticsByRankName] = SafeTensor(shape: [worldSize, model.state.count], floats: statisticsByRank)
        }
        var metadata: [String: String] = [
            "format": Checkpoint.format, "format_version": Checkpoint.version,
            "global_step": String(step), "epoch": String(epoch), "world_size": String(worldSize),
            "seed": String(seed), "elapsed_seconds": String(elapsedSeconds), "best_top1": String(bestTop1),
            "config": configYAML, "class_names": classNames.joined(separator: "\n"),
        ]
        if let normalization {
            // Swift's shortest round-trip decimals: reading them back gives the same doubles.
            metadata["input_mean"] = normalization.mean.map { "\($0)" }.joined(separator: " ")
            metadata["input_std"] = normalization.std.map { "\($0)" }.joined(separator: " ")
        }
        var file = SafeTensors(tensors: tensors, metadata: metadata)
        file.metadata["checksum"] = file.checksum
        try file.write(to: path)
    }

    static let momentumPrefix = "momentum."
    static let statisticsByRankName = "ranks.running_statistics"

    /// Reads `path` into `model` (parameters and running statistics) and `momentum` when given,
    /// refusing another format, a checksum mismatch, or tensors that do not fit the model;
    /// nothing is changed unless everything fits.
    public static func read(from path: String, into model: MBCliqueNet, momentum: Buffer?) throws -> Checkpoint {
        let file = try verified(path)
        let m = file.metadata
        func refuse(_ why: String) -> CheckpointError { CheckpointError("checkpoint `\(path)` \(why)") }
        // The metadata passed the checksum; it is still range-checked before anything uses it.
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let text = m[key], let value = Int(text), range.contains(value) else {
                throw refuse("has `\(key)` \(m[key].map { "`\($0.prefix(40))`" } ?? "missing"); expected a whole number in \(range.lowerBound)...\(range.upperBound). Use another checkpoint.")
            }
            return value
        }
        func fraction(_ key: String, _ range: ClosedRange<Double>) throws -> Double {
            guard let text = m[key], let value = Double(text), range.contains(value) else {
                throw refuse("has `\(key)` \(m[key].map { "`\($0.prefix(40))`" } ?? "missing"); expected a number in \(range.lowerBound)...\(range.upperBound). Use another checkpoint.")
            }
            return value
        }
        let step = try integer("global_step", 0...maxStep)
        let epoch = try integer("epoch", 0...step)
        let world = try integer("world_size", 1...maxWorldSize)
        let seed = try integer("seed", 0...TrainingConfig.maxSeed)
        let elapsed = try fraction("elapsed_seconds", 0...Double.greatestFiniteMagnitude)
        let best = try fraction("best_top1", 0...1)
        let normalization = try recordedNormalization(m, channels: model.config.inChannels, refuse: refuse)
        let modelTensors = file.tensors.filter { !$0.key.hasPrefix(momentumPrefix) && $0.key != statisticsByRankName }
        var statisticsByRank: [Float]?
        if let t = file.tensors[statisticsByRankName] {
            guard t.shape == [world, model.state.count], let values = t.floats else {
                throw refuse("has a `\(statisticsByRankName)` tensor of shape \(t.shape), not [\(world), \(model.state.count)]: it was written for another model configuration.")
            }
            statisticsByRank = values
        }
        var velocities: [(TensorInfo, [Float])] = []
        for info in model.parameters.infos {
            let name = momentumPrefix + info.name
            guard let t = file.tensors[name], t.shape == info.shape, let values = t.floats else {
                throw refuse("has no F32 \(info.shape) tensor `\(name)`: it was written for another model configuration.")
            }
            velocities.append((info, values))
        }
        do {
            try model.assign(modelTensors)
        } catch let e as ModelTensorsError {
            throw refuse("does not fit: \(e.message)")
        }
        if let momentum {
            for (info, values) in velocities { (momentum.pointer + info.offset).update(from: values, count: info.count) }
        }
        return Checkpoint(step: step, epoch: epoch, worldSize: world, seed: seed, elapsedSeconds: elapsed, bestTop1: best,
                          configYAML: m["config"] ?? "",
                          classNames: (m["class_names"] ?? "").split(separator: "\n").map(String.init),
                          normalization: normalization, statisticsByRank: statisticsByRank)
    }

    /// The largest step and world size a checkpoint may record: both travel between ranks as
    /// doubles, exact up to 2^53.
    static let maxStep = 1 << 53
    static let maxWorldSize = 1 << 20

    /// The recorded input normalization: absent, or one finite mean and one positive finite std
    /// per input channel.
    static func recordedNormalization(_ m: [String: String], channels: Int,
                                      refuse: (String) -> CheckpointError) throws -> Normalization? {
        guard m["input_mean"] != nil || m["input_std"] != nil else { return nil }
        let mean = (m["input_mean"] ?? "").split(separator: " ").map { Double($0) }
        let std = (m["input_std"] ?? "").split(separator: " ").map { Double($0) }
        guard mean.count == channels, std.count == channels, mean.allSatisfy({ $0?.isFinite == true }),
              std.allSatisfy({ $0.map { $0.isFinite && $0 > 0 } == true }) else {
            throw refuse("has `input_mean` and `input_std` that are not \(channels) finite numbers each (std above 0). Use another checkpoint.")
        }
        return Normalization(mean: mean.map { $0! }, std: std.map { $0! })
    }

    /// The file at `path` when it is an mbc checkpoint of this version whose checksum matches.
    static func verified(_ path: String) throws -> SafeTensors {
        let file: SafeTensors
        do {
            file = try SafeTensors(contentsOf: path)
        } catch let e as SafeTensorsError {
            throw CheckpointError("cannot use checkpoint \(e.message)")
        }
        let m = file.metadata
        func refuse(_ why: String) -> CheckpointError { CheckpointError("checkpoint `\(path)` \(why)") }
        guard m["format"] == format else { throw refuse("is not an mbc training checkpoint (no `format: \(format)` in its metadata).") }
        guard m["format_version"] == version else {
            if m["format_version"] == "1" {
                throw refuse("has format version 1, whose checksum does not cover its metadata; this mbc reads version \(version) only. Resume or evaluate it with the mbc that wrote it, or start a new run.")
            }
            throw refuse("has format version \(m["format_version"] ?? "?"); this mbc reads version \(version).")
        }
        guard m["checksum"] == file.checksum else {
            throw refuse("fails its checksum: its tensors or metadata were changed or damaged after it was written. Use another checkpoint.")
        }
        return file
    }

    /// The config recorded in the checkpoint at `path` (once its checksum matches), for
    /// `mbc-train eval` without `--config`.
    public static func config(of path: String) throws -> String {
        guard let config = try verified(path).metadata["config"] else {
            throw CheckpointError("checkpoint `\(path)` records no config; give one with --config.")
        }
        return config
    }
}

public struct CheckpointError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }

/// The checkpoint files of a run directory: `checkpoints/step-NNNNNNNN.safetensors` (the last
/// `keep_last` kept), `checkpoints/cycle-C-step-NNNNNNNN.safetensors` (every SGDR cycle end, kept)
/// and `checkpoints/best.safetensors` (best test top-1).
public struct CheckpointDirectory {
    public let path: String

    public init(runDirectory: String) { path = runDirectory + "/checkpoints" }

    public func periodic(step: Int) -> String { path + String(format: "/step-%08d.safetensors", step) }
    public func cycleEnd(cycle: Int, step: Int) -> String { path + String(format: "/cycle-%d-step-%08d.safetensors", cycle, step) }
    public var best: String { path + "/best.safetensors" }

    /// (step, path) of every step and cycle checkpoint, oldest first.
    public func all() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasSuffix(".safetensors"), let r = name.range(of: "step-") else { return nil }
            let digits = name[r.upperBound...].prefix { $0.isNumber }
            return Int(digits).map { ($0, path + "/" + name) }
        }.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
    }

    /// The newest checkpoint (a file is only ever visible complete: they are renamed into place).
    public var newest: String? { all().last?.path }

    /// Deletes periodic checkpoints beyond the newest `keep`.
    public func prune(keep: Int) {
        let periodic = all().filter { ($0.path as NSString).lastPathComponent.hasPrefix("step-") }
        for old in periodic.dropLast(keep) { try? FileManager.default.removeItem(atPath: old.path) }
    }
}
