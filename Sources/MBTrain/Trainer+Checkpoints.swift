import MBCore
import MBDistributed

/// Reading and writing checkpoints: rank 0 touches the file, every rank takes part.
extension Trainer {
    /// Continues from a checkpoint (read by rank 0, then broadcast). A different world size is
    /// allowed: the global batch and the data each global step sees stay the same, but BatchNorm
    /// batch statistics are taken over a different per-rank batch, so the continuation is valid
    /// but not bitwise equal to an uninterrupted run at the old world size.
    @discardableResult
    public func resume(from path: String) throws -> String? {
        let (header, statisticsByRank) = try readCheckpointOnRoot(path, momentum: momentum)
        try restoreOwnRunningStatistics(statisticsByRank, writtenBy: Int(header.worldSize))
        step = Int(header.step)
        elapsedBefore = header.elapsedSeconds
        bestTop1 = header.bestTop1
        guard step <= totalSteps else {
            throw CheckpointError("checkpoint `\(path)` is at step \(step), past this run's \(totalSteps) steps; raise schedule.epochs or start a new run.")
        }
        if Int(header.seed) != config.training.seed {
            throw CheckpointError("checkpoint `\(path)` was trained with seed \(Int(header.seed)), the config says \(config.training.seed); resume with the same seed (data order and augmentation derive from it).")
        }
        var notes: [String] = []
        let oldWorld = Int(header.worldSize)
        if oldWorld != world.size {
            notes.append("the checkpoint was written by \(oldWorld) ranks and this run has \(world.size): the global batch stays \(config.training.optim.globalBatch), but BatchNorm statistics now cover \(sampler.localBatch) images per rank, so the run will not be bitwise equal to one that kept \(oldWorld) ranks.")
        }
        if let old = checkpointConfigYAML {
            let changed = changedConfigKeys(from: old, to: config.resolved)
            if !changed.isEmpty {
                notes.append("the config differs from the checkpoint's in " + changed.joined(separator: ", ") + "; the run continues with the new values.")
            }
        }
        return notes.isEmpty ? nil : notes.joined(separator: "\n")
    }

    /// `key: old -> new` for every resolved key whose value differs (keys only one side has count too).
    func changedConfigKeys(from oldYAML: String, to new: ConfigValue) -> [String] {
        guard let old = try? ConfigValue.parse(yaml: oldYAML, source: "the checkpoint's config") else { return [] }
        let a = old.leaves(), b = new.leaves()
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key] ? nil : "\(key): \(a[key] ?? "(none)") -> \(b[key] ?? "(none)")"
        }
    }

    /// Loads a checkpoint's parameters and running statistics for evaluation (no schedule checks).
    public func loadWeights(from path: String) throws {
        _ = try readCheckpointOnRoot(path, momentum: nil)
    }

    /// Each rank takes its own row of the checkpoint's per-rank running statistics (held by rank
    /// 0), when the checkpoint has them and was written by as many ranks; otherwise every rank
    /// keeps the averaged statistics it was given.
    func restoreOwnRunningStatistics(_ statisticsByRank: [Float]?, writtenBy oldWorld: Int) throws {
        var available = [statisticsByRank != nil && oldWorld == world.size ? 1.0 : 0.0]
        try available.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        guard available[0] > 0 else { return }
        let count = model.state.count
        var rows = statisticsByRank ?? [Float](repeating: 0, count: world.size * count)
        try rows.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        rows.withUnsafeBufferPointer { model.state.values.pointer.update(from: $0.baseAddress! + world.rank * count, count: count) }
    }

    /// Rank 0 reads the checkpoint at `path` into its model (and `momentum` when given); then every
    /// rank gets its header and rank 0's parameters, running statistics and momentum. When rank 0
    /// cannot read it, every rank throws rank 0's error.
    func readCheckpointOnRoot(_ path: String, momentum: Buffer?) throws -> (CheckpointHeader, statisticsByRank: [Float]?) {
        var header = CheckpointHeader()
        var statisticsByRank: [Float]?
        try onRoot(failingAs: CheckpointError.init) {
            let checkpoint: Checkpoint
            do {
                checkpoint = try Checkpoint.read(from: path, into: model, momentum: momentum)
            } catch let e as CheckpointError {
                throw e
            } catch {
                throw CheckpointError("cannot read checkpoint `\(path)`: \(error)")
            }
            header = CheckpointHeader(checkpoint)
            statisticsByRank = checkpoint.statisticsByRank
            checkpointConfigYAML = checkpoint.configYAML
        }
        header = try header.broadcast(from: 0, over: world)
        try broadcastState()
        return (header, statisticsByRank)
    }

    /// Runs `body` on rank 0; when it fails, every rank throws the same failure, so none goes on
    /// alone: rank 0 its error, the other ranks `sameAs` of its text (broadcast from rank 0).
    func onRoot(failingAs sameAs: (String) -> Error = ConfigError.init, _ body: () throws -> Void) throws {
        var error: Error?
        var text = ""
        if world.rank == 0 {
            do {
                try body()
            } catch let e {
                error = e
                text = "\(e)".isEmpty ? "rank 0 failed without a message." : "\(e)"
            }
        }
        text = try world.broadcast(text, root: 0)
        if !text.isEmpty { throw error ?? sameAs(text) }
    }

    /// Rank 0's parameters, BatchNorm running statistics and momentum on every rank.
    func broadcastState() throws {
        for buffer in [model.parameters.values, model.state.values, momentum] {
            try world.broadcast(UnsafeMutableRawBufferPointer(buffer.buffer), root: 0)
        }
        model.parametersChanged()
    }

    /// Rank 0 writes the checkpoint (the model's running statistics as they are, and each rank's
    /// when given); every rank waits for it, then reports it.
    func writeCheckpoint(to path: String, elapsed: Double, statisticsByRank: [Float]?, events: (TrainingEvent) -> Void) throws {
        if world.rank == 0 {
            let c = Checkpoint(step: step, epoch: step / sampler.stepsPerEpoch, worldSize: world.size, seed: config.training.seed,
                               elapsedSeconds: elapsed, bestTop1: bestTop1, configYAML: config.resolved.yaml(),
                               classNames: trainSet.classNames, normalization: normalization, statisticsByRank: statisticsByRank)
            try c.write(model: model, momentum: momentum, to: path)
        }
        try world.barrier()
        events(.checkpointed(path: path))
    }
}

extension ConfigValue {
    /// Every scalar or list value by its dotted key path.
    func leaves(prefix: String = "") -> [String: String] {
        switch self {
        case .map(let entries):
            return entries.reduce(into: [:]) { all, entry in
                all.merge(entry.value.leaves(prefix: prefix.isEmpty ? entry.key : prefix + "." + entry.key)) { $1 }
            }
        default:
            return [prefix: yaml()]
        }
    }
}
