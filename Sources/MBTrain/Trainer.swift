import Foundation
import MBBase
import MBCliqueNet
import MBCore
import MBData
import MBDistributed

/// What the trainer tells its caller (rank 0's console); the library itself never prints.
public enum TrainingEvent {
    case resumed(from: String, step: Int, notice: String?)
    case progress(step: Int, totalSteps: Int, epoch: Int, loss: Double, lr: Double, imagesPerSecond: Double)
    case evaluated(EvalRecord)
    case checkpointed(path: String)
}

/// The facts of a run, known before the first step.
public struct TrainingPlan {
    public var worldSize: Int
    public var ranks: [String]
    public var summary: ModelSummary
    public var resolvedConfig: String
    public var stepsPerEpoch: Int
    public var totalSteps: Int
    public var trainCount: Int
    public var testCount: Int
}

/// How a run ended.
public enum TrainingOutcome: Equatable {
    /// The schedule's budget (or `--max-steps`) was reached.
    case finished(step: Int)
    /// SIGINT/SIGTERM: all ranks stopped at a step boundary after writing a checkpoint.
    case interrupted(step: Int, checkpoint: String)
    /// The loss or a gradient was not finite at `step`; no update was applied and the checkpoints
    /// already written are kept.
    case diverged(step: Int)
}

public struct TrainingError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }

/// Set from a signal handler; all ranks agree on it at the next step boundary.
nonisolated(unsafe) public var stopRequested: Int32 = 0

/// Data-parallel training of one run directory: every rank holds a replica, gradients are summed
/// over the communicator after each backward, rank 0 writes checkpoints and logs.
public final class Trainer {
    public let config: RunConfig
    public let runDirectory: String
    let world: Communicator
    let model: MBCliqueNet
    let momentum: Buffer
    let sgd: SGD
    let schedule: SGDRSchedule
    let sampler: TrainSampler
    let trainSet: Dataset
    let testSet: Dataset
    let normalization: Normalization
    let checkpoints: CheckpointDirectory
    let log: EvalLog
    public let totalSteps: Int
    var step = 0
    var elapsedBefore = 0.0
    var bestTop1 = 0.0
    /// Wall time of each phase of a training step (`data`, `forward` (with the loss), `backward`,
    /// `allreduce`, `update`), accumulated while set; nil (the default) costs nothing. For benchmarks.
    public var stepProfile: KernelProfile?

    /// Validates everything and loads the data; no step is run yet.
    public init(config: RunConfig, runDirectory: String, world: Communicator) throws {
        self.config = config
        self.runDirectory = runDirectory
        self.world = world
        let t = config.training
        trainSet = try loadDataset(config.data, split: .train)
        testSet = try loadDataset(config.data, split: .test)
        let m = config.model
        if m.inChannels != trainSet.channels || m.imageSize != trainSet.height || trainSet.height != trainSet.width {
            throw ConfigError("`model.in_channels` \(m.inChannels) and `model.image_size` \(m.imageSize) do not fit \(config.data.dataset.rawValue) images of \(trainSet.channels)x\(trainSet.height)x\(trainSet.width); set model.in_channels: \(trainSet.channels) and model.image_size: \(trainSet.height).")
        }
        if m.classes != trainSet.classes {
            throw ConfigError("`model.classes` is \(m.classes) but \(config.data.dataset.rawValue) has \(trainSet.classes) classes; set model.classes: \(trainSet.classes).")
        }
        do {
            sampler = try TrainSampler(count: trainSet.count, globalBatch: t.optim.globalBatch, worldSize: world.size,
                                       rank: world.rank, seed: UInt64(t.seed))
        } catch let e as DataError {
            throw ConfigError("`optim.global_batch`: \(e.message)")
        }
        guard sampler.stepsPerEpoch > 0 else {
            throw ConfigError("`optim.global_batch` \(t.optim.globalBatch) is larger than the \(trainSet.count) training samples; lower it.")
        }
        normalization = try Normalization(config: config.data, trainingSet: trainSet)
        schedule = t.schedule.schedule(lrMax: t.optim.lrMax, lrMin: t.optim.lrMin, stepsPerEpoch: sampler.stepsPerEpoch)
        totalSteps = schedule.totalSteps(cycles: t.schedule.cycles)
        model = try MBCliqueNet(config: m)
        momentum = Buffer(count: model.parameters.count)
        let decayed: [Range<Int>]
        switch t.optim.weightDecayScope {
        case .all: decayed = [0..<model.parameters.count]
        case .conv: decayed = model.parameters.infos.filter(\.isConvWeight).map { $0.offset..<($0.offset + $0.count) }
        }
        sgd = SGD(momentum: Float(t.optim.momentum), weightDecay: Float(t.optim.weightDecay), decayed: decayed)
        checkpoints = CheckpointDirectory(runDirectory: runDirectory)
        log = EvalLog(runDirectory: runDirectory)
    }

    public var plan: TrainingPlan {
        get throws {
            let ranks = try world.gather(RankInfo.current().line, root: 0) ?? []
            return TrainingPlan(worldSize: world.size, ranks: ranks, summary: ModelSummary(model: model),
                                resolvedConfig: config.resolved.yaml(), stepsPerEpoch: sampler.stepsPerEpoch,
                                totalSteps: totalSteps, trainCount: trainSet.count, testCount: testSet.count)
        }
    }

    /// Rank 0 creates the run directory and writes the resolved config; a directory that cannot be
    /// written is an error before any work.
    public func prepareRunDirectory() throws {
        guard world.rank == 0 else { return }
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: checkpoints.path, withIntermediateDirectories: true)
            try Data(config.resolved.yaml().utf8).write(to: URL(fileURLWithPath: runDirectory + "/config.yaml"))
        } catch {
            throw ConfigError("cannot write to the run directory `\(runDirectory)` (\(error.localizedDescription)); choose another with --run-dir.")
        }
    }

    /// Fresh start: rank 0 initialises from the seed and broadcasts parameters, BatchNorm buffers
    /// and momentum, so every replica starts bitwise equal.
    public func initialize() throws {
        if world.rank == 0 { model.initialize(seed: UInt64(config.training.seed)) }
        step = 0
        try broadcastState()
    }

    /// Continues from a checkpoint (read by rank 0, then broadcast). A different world size is
    /// allowed: the global batch and the data each global step sees stay the same, but BatchNorm
    /// batch statistics are taken over a different per-rank batch, so the continuation is valid
    /// but not bitwise equal to an uninterrupted run at the old world size.
    @discardableResult
    public func resume(from path: String) throws -> String? {
        var header = [Double](repeating: 0, count: 5)
        var failure: String?
        if world.rank == 0 {
            do {
                let c = try Checkpoint.read(from: path, into: model, momentum: momentum)
                header = [Double(c.step), Double(c.worldSize), c.elapsedSeconds, c.bestTop1, Double(c.seed)]
            } catch {
                failure = "\(error)"
            }
        }
        var failed = [failure == nil ? 0.0 : 1.0]
        try failed.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        if failed[0] > 0 { throw CheckpointError(failure ?? "rank 0 could not read checkpoint `\(path)`.") }
        try header.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        try broadcastState()
        step = Int(header[0])
        elapsedBefore = header[2]
        bestTop1 = header[3]
        guard step <= totalSteps else {
            throw CheckpointError("checkpoint `\(path)` is at step \(step), past this run's \(totalSteps) steps; raise schedule.epochs or start a new run.")
        }
        if Int(header[4]) != config.training.seed {
            throw CheckpointError("checkpoint `\(path)` was trained with seed \(Int(header[4])), the config says \(config.training.seed); resume with the same seed (data order and augmentation derive from it).")
        }
        let oldWorld = Int(header[1])
        return oldWorld == world.size ? nil
            : "the checkpoint was written by \(oldWorld) ranks and this run has \(world.size): the global batch stays \(config.training.optim.globalBatch), but BatchNorm statistics now cover \(sampler.localBatch) images per rank, so the run will not be bitwise equal to one that kept \(oldWorld) ranks."
    }

    /// Loads a checkpoint's parameters and running statistics for evaluation (no schedule checks).
    public func loadWeights(from path: String) throws {
        var failure: String?
        if world.rank == 0 {
            do { _ = try Checkpoint.read(from: path, into: model, momentum: nil) } catch { failure = "\(error)" }
        }
        var failed = [failure == nil ? 0.0 : 1.0]
        try failed.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        if failed[0] > 0 { throw CheckpointError(failure ?? "rank 0 could not read checkpoint `\(path)`.") }
        try broadcastState()
    }

    /// The next global step to run (steps count from 0).
    public var currentStep: Int { step }

    /// The newest checkpoint of the run directory, if any.
    public var newestCheckpoint: String? { checkpoints.newest }

    func broadcastState() throws {
        for buffer in [model.parameters.values, model.state.values, momentum] {
            try world.broadcast(UnsafeMutableRawBufferPointer(buffer.buffer), root: 0)
        }
        model.parametersChanged()
    }

    /// Runs until the budget, `maxSteps` (a global step to stop at), a stop request, or a
    /// non-finite loss or gradient.
    public func train(maxSteps: Int? = nil, events: (TrainingEvent) -> Void) throws -> TrainingOutcome {
        let end = min(totalSteps, maxSteps ?? totalSteps)
        let writer = BatchWriter(dataset: trainSet, normalization: normalization, augmentation: config.data.trainingAugmentation)
        guard step < end else { return .finished(step: step) }
        let loader = PrefetchingLoader(writer: writer, sampler: sampler, firstStep: step, steps: end - step)
        defer { loader.stop() }
        let start = Date()
        var epochSums = [Double](repeating: 0, count: 3)   // loss sum, top-1 hits, images: this epoch, all ranks
        var windowStart = Date(), windowImages = 0.0
        var epochStart = Date(), epochImages = 0.0
        let grads = model.parameters.gradients!
        let gradScale = 1 / Float(world.size)
        while step < end, let batch = timed("data", { loader.next() }) {
            let r = timed("forward") {
                model.parameters.zeroGradients()
                model.forward(images: batch.images, count: batch.count, training: true)
                return model.loss(labels: batch.labels, gradient: true)
            }
            timed("backward") { model.backwardFromLoss() }
            // One small allreduce per step: loss sum, hits, images, non-finite flag, stop flag.
            var agreed = [r.lossSum, Double(r.top1), Double(batch.count), r.lossSum.isFinite ? 0 : 1, Double(stopRequested)]
            try timed("allreduce") { try agreed.withUnsafeMutableBufferPointer { try world.allreduceSum($0) } }
            if agreed[3] > 0 { return .diverged(step: step) }
            try timed("allreduce") { try world.allreduceSum(grads.buffer) }
            if !timed("update", { allFinite(grads.pointer, count: grads.count) }) { return .diverged(step: step) }
            let lr = schedule.learningRate(atStep: step)
            timed("update") {
                sgd.step(values: model.parameters.values.pointer, grads: grads.pointer, velocity: momentum.pointer,
                         count: model.parameters.count, lr: Float(lr), gradScale: gradScale)
                model.parametersChanged()
            }
            for i in 0..<3 { epochSums[i] += agreed[i] }
            windowImages += agreed[2]
            epochImages += agreed[2]
            step += 1

            let every = config.training.log.checksumEverySteps
            if every > 0, step % every == 0 {
                let differ = try ranksDiffering(fromRoot: checksum(UnsafeBufferPointer(model.parameters.values.buffer)), in: world)
                if !differ.isEmpty {
                    throw TrainingError("the parameters of rank(s) \(differ.map(String.init).joined(separator: ", ")) differ from rank 0's after step \(step); the replicas diverged (different binaries or BLAS builds across hosts?). Stopping.")
                }
            }
            if step % config.training.log.printEverySteps == 0 || step == end {
                let now = Date()
                events(.progress(step: step, totalSteps: totalSteps, epoch: step / sampler.stepsPerEpoch, loss: agreed[0] / agreed[2],
                                 lr: lr, imagesPerSecond: windowImages / max(now.timeIntervalSince(windowStart), 1e-9)))
                windowStart = now
                windowImages = 0
            }

            let epochEnded = step % sampler.stepsPerEpoch == 0
            let epoch = step / sampler.stepsPerEpoch
            let cycleEnded = schedule.isLastStepOfCycle(step - 1)
            let stopping = agreed[4] > 0
            let last = step == end
            let evaluate = epochEnded && (epoch % config.training.log.evalEveryEpochs == 0 || cycleEnded) || last
            let periodic = epochEnded && epoch % config.training.checkpoint.everyEpochs == 0
            if evaluate || periodic || cycleEnded || stopping || last {
                // Running statistics are per rank during training; average them first.
                try averageRunningStatistics()
            }
            if evaluate {
                let (testLoss, top1, top5) = try evaluateTestSet()
                let elapsed = elapsedBefore + Date().timeIntervalSince(start)
                let record = EvalRecord(epoch: epoch, step: step, lr: lr, trainLoss: epochSums[0] / max(epochSums[2], 1),
                                        trainTop1: epochSums[1] / max(epochSums[2], 1), testLoss: testLoss, testTop1: top1,
                                        testTop5: top5, imagesPerSecond: epochImages / max(Date().timeIntervalSince(epochStart), 1e-9),
                                        elapsedSeconds: elapsed)
                if world.rank == 0 { try log.append(record) }
                events(.evaluated(record))
                if top1 > bestTop1, config.training.checkpoint.keepBest {
                    bestTop1 = top1
                    try writeCheckpoint(to: checkpoints.best, elapsed: elapsed, events: events)
                }
            }
            if epochEnded {
                epochSums = [0, 0, 0]
                epochImages = 0
                epochStart = Date()
            }
            let elapsed = elapsedBefore + Date().timeIntervalSince(start)
            if cycleEnded {
                try writeCheckpoint(to: checkpoints.cycleEnd(cycle: schedule.cycle(ofStep: step - 1), step: step), elapsed: elapsed, events: events)
            }
            if periodic || stopping || (last && !cycleEnded) {
                try writeCheckpoint(to: checkpoints.periodic(step: step), elapsed: elapsed, events: events)
                if world.rank == 0 { checkpoints.prune(keep: config.training.checkpoint.keepLast) }
            }
            if stopping { return .interrupted(step: step, checkpoint: checkpoints.newest ?? "") }
        }
        return .finished(step: step)
    }

    @inline(__always) func timed<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        guard let stepProfile else { return try body() }
        return try stepProfile.measure(phase, body)
    }

    func writeCheckpoint(to path: String, elapsed: Double, events: (TrainingEvent) -> Void) throws {
        if world.rank == 0 {
            let c = Checkpoint(step: step, epoch: step / sampler.stepsPerEpoch, worldSize: world.size, seed: config.training.seed,
                               elapsedSeconds: elapsed, bestTop1: bestTop1, configYAML: config.resolved.yaml(),
                               classNames: trainSet.classNames)
            try c.write(model: model, momentum: momentum, to: path)
        }
        try world.barrier()
        events(.checkpointed(path: path))
    }

    /// BatchNorm running statistics: sum over ranks, then divide by the world size.
    func averageRunningStatistics() throws {
        guard world.size > 1 else { return }
        let s = model.state.values
        try world.allreduceSum(s.buffer)
        let scale = 1 / Float(world.size)
        for i in 0..<s.count { s.pointer[i] *= scale }
    }

    /// Loss, top-1 and top-5 over the whole test split, each sample scored once across ranks.
    /// Each evaluation batch runs through the model in chunks of the per-rank training batch, so
    /// evaluation needs no activation memory beyond what training already holds (the kernels work
    /// image by image: chunking costs no speed).
    public func evaluateTestSet() throws -> (loss: Double, top1: Double, top5: Double) {
        let shard = try EvalShard(count: testSet.count, batchSize: config.data.evalBatch, worldSize: world.size, rank: world.rank)
        let writer = BatchWriter(dataset: testSet, normalization: normalization, augmentation: .none)
        let images = Buffer(count: shard.batchSize * writer.imageSize)
        var labels = [Int32](repeating: 0, count: shard.batchSize)
        let ce = SoftmaxCrossEntropy(classes: config.model.classes)
        var sums = [0.0, 0.0, 0.0, 0.0]   // loss sum, top-1, top-5, count
        for b in 0..<shard.batchCount {
            let batch = shard.batch(b)
            labels.withUnsafeMutableBufferPointer { l in
                writer.write(indices: batch.indices, epoch: 0, seed: 0, images: images.pointer, labels: l.baseAddress!)
                for start in stride(from: 0, to: batch.indices.count, by: sampler.localBatch) {
                    let count = min(sampler.localBatch, batch.indices.count - start)
                    let logits = model.forward(images: images.pointer + start * writer.imageSize, count: count, training: false)
                    let counted = min(count, batch.counted - start)   // the first `batch.counted` samples are scored
                    guard counted > 0 else { continue }
                    let r = ce.evaluate(logits: logits, labels: l.baseAddress! + start, count: counted, gradient: false)
                    sums[0] += r.lossSum
                    sums[1] += Double(r.top1)
                    sums[2] += Double(r.top5)
                    sums[3] += Double(counted)
                }
            }
        }
        try sums.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        precondition(Int(sums[3]) == testSet.count, "evaluation scored \(Int(sums[3])) of \(testSet.count) samples")
        return (sums[0] / sums[3], sums[1] / sums[3], sums[2] / sums[3])
    }
}

func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
    var acc: Float = 0
    for i in 0..<count { acc += p[i] * 0 }   // 0·x is NaN exactly when x is not finite
    return acc == 0
}
