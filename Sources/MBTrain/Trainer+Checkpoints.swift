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
        let header = try readCheckpointOnRoot(path, momentum: momentum)
        step = Int(header.step)
        elapsedBefore = header.elapsedSeconds
        bestTop1 = header.bestTop1
        guard step <= totalSteps else {
            throw CheckpointError("checkpoint `\(path)` is at step \(step), past this run's \(totalSteps) steps; raise schedule.epochs or start a new run.")
        }
        if Int(header.seed) != config.training.seed {
            throw CheckpointError("checkpoint `\(path)` was trained with seed \(Int(header.seed)), the config says \(config.training.seed); resume with the same seed (data order and augmentation derive from it).")
        }
        let oldWorld = Int(header.worldSize)
        return oldWorld == world.size ? nil
            : "the checkpoint was written by \(oldWorld) ranks and this run has \(world.size): the global batch stays \(config.training.optim.globalBatch), but BatchNorm statistics now cover \(sampler.localBatch) images per rank, so the run will not be bitwise equal to one that kept \(oldWorld) ranks."
    }

    /// Loads a checkpoint's parameters and running statistics for evaluation (no schedule checks).
    public func loadWeights(from path: String) throws {
        _ = try readCheckpointOnRoot(path, momentum: nil)
    }

    /// Rank 0 reads the checkpoint at `path` into its model (and `momentum` when given); then every
    /// rank gets its header and rank 0's parameters, running statistics and momentum, or every
    /// rank throws when rank 0 could not read it.
    func readCheckpointOnRoot(_ path: String, momentum: Buffer?) throws -> CheckpointHeader {
        var header = CheckpointHeader()
        var failure: String?
        if world.rank == 0 {
            do {
                header = CheckpointHeader(try Checkpoint.read(from: path, into: model, momentum: momentum))
            } catch {
                failure = "\(error)"
            }
        }
        var failed = [failure == nil ? 0.0 : 1.0]
        try failed.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        if failed[0] > 0 { throw CheckpointError(failure ?? "rank 0 could not read checkpoint `\(path)`.") }
        header = try header.broadcast(from: 0, over: world)
        try broadcastState()
        return header
    }

    /// Rank 0's parameters, BatchNorm running statistics and momentum on every rank.
    func broadcastState() throws {
        for buffer in [model.parameters.values, model.state.values, momentum] {
            try world.broadcast(UnsafeMutableRawBufferPointer(buffer.buffer), root: 0)
        }
        model.parametersChanged()
    }

    /// Rank 0 writes the checkpoint; every rank waits for it, then reports it.
    func writeCheckpoint(to path: String, elapsed: Double, events: (TrainingEvent) -> Void) throws {
        if world.rank == 0 {
            let c = Checkpoint(step: step, epoch: step / sampler.stepsPerEpoch, worldSize: world.size, seed: config.training.seed,
                               elapsedSeconds: elapsed, bestTop1: bestTop1, configYAML: config.resolved.yaml(),
                               classNames: trainSet.classNames, normalization: normalization)
            try c.write(model: model, momentum: momentum, to: path)
        }
        try world.barrier()
        events(.checkpointed(path: path))
    }
}
