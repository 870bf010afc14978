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
    /// `distributed.overlap: auto` across hosts chose when the gradient allreduce runs, from
    /// `fraction`, the share of a step the allreduce took after backward.
    case allreduceChosen(step: Int, overlapped: Bool, fraction: Double)
}

/// The facts of a run, known before the first step.
public struct TrainingPlan {
    public var worldSize: Int
    public var ranks: [String]
    /// How gradients are summed: the algorithm, bucket size, and whether overlapped with backward.
    public var allreduce: String
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

/// Data-parallel training of one run directory: every rank holds a replica, gradients are summed
/// over the communicator after each backward, rank 0 writes checkpoints and logs.
public final class Trainer {
    public let config: RunConfig
    public let runDirectory: String
    let world: Communicator
    let stopSignal: StopSignal
    let model: MBCliqueNet
    let momentum: Buffer
    let sgd: SGD
    let schedule: SGDRSchedule
    let sampler: TrainSampler
    let trainSet: Dataset
    let testSet: Dataset
    let normalization: Normalization
    public let directory: RunDirectory
    let checkpoints: CheckpointDirectory
    let log: EvalLog
    public let totalSteps: Int
    var step = 0
    var elapsedBefore = 0.0
    /// On rank 0 after a resume: the config stored in the checkpoint.
    var checkpointConfigYAML: String?
    var bestTop1 = 0.0
    /// Wall time of each phase of a training step (`data`, `forward` (with the loss), `backward`,
    /// `allreduce`, `update`), accumulated while set; nil (the default) costs nothing. For benchmarks.
    public var stepProfile: KernelProfile?

    /// Validates everything and loads the data; no step is run yet. `stopSignal` is where this
    /// rank reads stop requests.
    public init(config: RunConfig, runDirectory: String, world: Communicator,
                stopSignal: StopSignal = InterruptSignals()) throws {
        self.config = config
        self.runDirectory = runDirectory
        self.world = world
        self.stopSignal = stopSignal
        let t = config.training
        try MemoryEstimate(config, localBatch: t.optim.globalBatch / world.size).check()
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
        let rates = t.optim.scaledLearningRates
        schedule = t.schedule.schedule(lrMax: rates.max, lrMin: rates.min, stepsPerEpoch: sampler.stepsPerEpoch)
        totalSteps = schedule.totalSteps(cycles: t.schedule.cycles)
        model = try MBCliqueNet(config: m)
        model.gradientPrecision = try t.optim.gradPrecisionOnThisCPU()
        momentum = Buffer(count: model.parameters.count)
        let decayed: [Range<Int>]
        switch t.optim.weightDecayScope {
        case .all: decayed = [0..<model.parameters.count]
        case .conv: decayed = model.parameters.infos.filter(\.isConvWeight).map { $0.offset..<($0.offset + $0.count) }
        }
        sgd = SGD(momentum: Float(t.optim.momentum), weightDecay: Float(t.optim.weightDecay), decayed: decayed)
        directory = RunDirectory(path: runDirectory)
        checkpoints = directory.checkpoints
        log = directory.log
    }

    public var plan: TrainingPlan {
        get throws {
            let ranks = try world.gather(RankInfo.current().line, root: 0) ?? []
            return TrainingPlan(worldSize: world.size, ranks: ranks, allreduce: try allreduceTiming().description,
                                summary: ModelSummary(model: model),
                                resolvedConfig: config.resolved.yaml(), stepsPerEpoch: sampler.stepsPerEpoch,
                                totalSteps: totalSteps, trainCount: trainSet.count, testCount: testSet.count)
        }
    }

    /// Rank 0 creates the run directory and writes the resolved config, and after a resume drops
    /// the evaluation records past the resumed step (a kill between an evaluation and its
    /// checkpoint leaves one; the resumed run writes it again). Call once the start succeeded
    /// (`initialize()` or `resume(from:)`): a failed start writes nothing. Every rank throws if
    /// rank 0 could not write.
    public func prepareRunDirectory() throws {
        try onRoot {
            try directory.create(configYAML: config.resolved.yaml())
            try directory.log.removeRecords(after: step)
        }
    }

    /// Fresh start: rank 0 initialises from the seed and broadcasts parameters, BatchNorm buffers
    /// and momentum, so every replica starts bitwise equal.
    public func initialize() throws {
        if world.rank == 0 { model.initialize(seed: UInt64(config.training.seed)) }
        step = 0
        try broadcastState()
    }

    /// The next global step to run (steps count from 0).
    public var currentStep: Int { step }

    /// The newest checkpoint of the run directory, if any.
    public var newestCheckpoint: String? { checkpoints.newest }

    /// Runs until the budget, `maxSteps` (a global step to stop at), a stop request, or a
    /// non-finite loss or gradient.
    public func train(maxSteps: Int? = nil, events: (TrainingEvent) -> Void) throws -> TrainingOutcome {
        let end = min(totalSteps, maxSteps ?? totalSteps)
        guard step < end else { return .finished(step: step) }
        let writer = BatchWriter(dataset: trainSet, normalization: normalization, augmentation: config.data.trainingAugmentation)
        let loader = PrefetchingLoader(writer: writer, sampler: sampler, firstStep: step, steps: end - step)
        defer { loader.stop() }
        let started = Date()
        var epochTotals = EpochTotals()
        var window = ThroughputWindow()
        let timing = try allreduceTiming()
        let exchange = GradientExchange(world: world, parameters: model.parameters,
                                        bucketFloats: config.training.distributed.bucketFloats, overlapped: timing.overlapped)
        var probe = timing.measured ? OverlapProbe() : nil
        while step < end, let batch = timed("data", { loader.next() }) {
            let stepStart = DispatchTime.now().uptimeNanoseconds
            let local = try runStep(batch, exchange: exchange)
            if let measuring = probe {
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) * 1e-9
                probe = try measuring.adding(stepSeconds: seconds, allreduceSeconds: exchange.lastFinishSeconds,
                                             world: world) { overlapped, fraction in
                    exchange.overlapped = overlapped
                    events(.allreduceChosen(step: step + 1, overlapped: overlapped, fraction: fraction))
                }
            }
            let agreed = try timed("allreduce") {
                try StepAgreement(local, stopRequested: stopSignal.isRaised).summed(over: world)
            }
            guard agreed.lossIsFinite else { return .diverged(step: step) }
            let lr = schedule.learningRate(atStep: step)
            guard try applyGradients(lr: lr) else { return .diverged(step: step) }
            epochTotals.add(agreed)
            window.add(images: agreed.images)
            step += 1

            try checkReplicasAgree()
            if step % config.training.log.printEverySteps == 0 || step == end {
                events(.progress(step: step, totalSteps: totalSteps, epoch: step / sampler.stepsPerEpoch,
                                 loss: agreed.lossSum / agreed.images, lr: lr, imagesPerSecond: window.restart()))
            }
            let boundary = StepBoundary(afterStep: step, lastStep: end, stopping: agreed.stop, schedule: schedule,
                                        config: config.training)
            try finish(boundary, lr: lr, epochTotals: &epochTotals, trainingStarted: started, events: events)
            if agreed.stop { return .interrupted(step: step, checkpoint: checkpoints.newest ?? "") }
        }
        return .finished(step: step)
    }

    /// One step on this rank's batch: zero the gradients, forward with the loss, backward, and
    /// the gradients summed over the ranks by `exchange` (during backward, when it overlaps).
    func runStep(_ batch: PrefetchingLoader.Batch, exchange: GradientExchange) throws -> StepResult {
        let loss = timed("forward") {
            model.parameters.zeroGradients()
            model.forward(images: batch.images, count: batch.count, training: true)
            return model.loss(labels: batch.labels, gradient: true)
        }
        timed("backward") { model.backwardFromLoss(stepDone: exchange.stepDone) }
        try timed("allreduce") { try exchange.finish() }
        return StepResult(lossSum: loss.lossSum, top1Hits: loss.top1, images: batch.count)
    }

    /// Whether this run's gradient sums start overlapped with backward (`distributed.overlap`),
    /// whether `auto` measures the first steps to choose (ranks on several hosts), and a sentence
    /// saying so. A collective: every rank calls it.
    public func allreduceTiming() throws -> (overlapped: Bool, measured: Bool, description: String) {
        let d = config.training.distributed
        let size = d.bucketMiB >= 1 ? String(format: "%g MiB", d.bucketMiB) : String(format: "%g KiB", d.bucketMiB * 1024)
        let buckets = "ring allreduce in \(size) buckets"
        guard world.size > 1 else { return (false, false, "one rank: no allreduce") }
        switch d.overlap {
        case .on: return (true, false, "\(buckets), overlapped with backward (distributed.overlap: on)")
        case .off: return (false, false, "\(buckets), after backward (distributed.overlap: off)")
        case .auto:
            let hosts = try hostCount(world)
            guard hosts > 1 else { return (false, false, "\(buckets), after backward (auto: the ranks share one host)") }
            let percent = Int(OverlapProbe.threshold * 100)
            return (false, true, "\(buckets), after backward for the first steps, then overlapped with backward if it takes more than \(percent) % of a step (auto: the ranks are on \(hosts) hosts)")
        }
    }

    /// Takes the SGD step at `lr` with the summed gradients; false, with nothing changed, when
    /// a summed gradient is not finite.
    func applyGradients(lr: Double) throws -> Bool {
        let grads = model.parameters.gradients!
        guard timed("update", { allFinite(grads.pointer, count: grads.count) }) else { return false }
        timed("update") {
            sgd.step(values: model.parameters.values.pointer, grads: grads.pointer, velocity: momentum.pointer,
                     count: model.parameters.count, lr: Float(lr), gradScale: 1 / Float(world.size))
            model.parametersChanged()
        }
        return true
    }

    /// Every `log.checksum_every_steps` steps: the ranks compare parameter checksums, and every
    /// rank throws when one differs from rank 0's.
    func checkReplicasAgree() throws {
        let every = config.training.log.checksumEverySteps
        guard every > 0, step % every == 0 else { return }
        let differ = try ranksDiffering(fromRoot: checksum(UnsafeBufferPointer(model.parameters.values.buffer)), in: world)
        if !differ.isEmpty {
            throw TrainingError("the parameters of rank(s) \(differ.map(String.init).joined(separator: ", ")) differ from rank 0's after step \(step); the replicas diverged (different binaries or BLAS builds across hosts?). Stopping.")
        }
    }

    /// Evaluation, the logs and the checkpoints `boundary` asks for; a new epoch's totals after
    /// an epoch end.
    func finish(_ boundary: StepBoundary, lr: Double, epochTotals: inout EpochTotals, trainingStarted: Date,
                events: (TrainingEvent) -> Void) throws {
        defer { if boundary.endsEpoch { epochTotals = EpochTotals() } }
        guard boundary.averagesStatistics else { return }
        let byRank = boundary.checkpoints.isEmpty ? nil : try runningStatisticsByRank()
        try withAveragedRunningStatistics {
            var evaluation: EvalRecord?
            if boundary.evaluate {
                evaluation = try evaluateAndLog(epoch: boundary.epoch, lr: lr, epochTotals: epochTotals,
                                                trainingStarted: trainingStarted, events: events)
            }
            for write in boundary.checkpoints {
                switch write {
                case .bestIfImproved:
                    guard let evaluation, evaluation.testTop1 > bestTop1 else { continue }
                    bestTop1 = evaluation.testTop1
                    try writeCheckpoint(to: checkpoints.best, elapsed: evaluation.elapsedSeconds, statisticsByRank: byRank,
                                        events: events)
                case .cycleEnd(let cycle):
                    try writeCheckpoint(to: checkpoints.cycleEnd(cycle: cycle, step: step), elapsed: elapsed(since: trainingStarted),
                                        statisticsByRank: byRank, events: events)
                case .step:
                    try writeCheckpoint(to: checkpoints.periodic(step: step), elapsed: elapsed(since: trainingStarted),
                                        statisticsByRank: byRank, events: events)
                    if world.rank == 0 { checkpoints.prune(keep: config.training.checkpoint.keepLast) }
                }
            }
        }
    }

    /// Training time of the run so far, including the time before a resume.
    func elapsed(since trainingStarted: Date) -> Double { elapsedBefore + Date().timeIntervalSince(trainingStarted) }

    @inline(__always) func timed<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        guard let stepProfile else { return try body() }
        return try stepProfile.measure(phase, body)
    }
}

func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
    var acc: Float = 0
    for i in 0..<count { acc += p[i] * 0 }   // 0·x is NaN exactly when x is not finite
    return acc == 0
}
