import MBCore

/// Which parameters get weight decay.
public enum WeightDecayScope: String, CaseIterable {
    /// Every parameter, as `torch.optim.SGD(model.parameters(), weight_decay=…)` does.
    case all
    /// Only the latent weights of the binary convolutions.
    case conv
}

/// How the learning rates follow the global batch.
public enum LearningRateScaling: String, CaseIterable {
    /// `lr_max` and `lr_min` as written (the paper's, for its global batch of 128).
    case none
    /// Both times global_batch / 128, the linear scaling rule (Goyal et al. 2017, "Accurate, Large
    /// Minibatch SGD"): for a global batch raised with the number of hosts. Beyond the paper.
    case linear
}

/// The `optim:` section: SGD with momentum (docs/MODEL.md section 9).
public struct OptimConfig: Equatable {
    public var lrMax = 0.1
    public var lrMin = 1e-4
    public var momentum = 0.9
    public var weightDecay = 5e-4
    public var weightDecayScope = WeightDecayScope.all
    /// Images per step summed over all ranks; each rank takes globalBatch / world size.
    public var globalBatch = 128
    /// The arithmetic of the conv weight gradients' products dW = dY·Xᵀ: fp32 by default (bf16
    /// was not adopted as the default: BENCHMARKS.md, "bf16 weight gradients").
    public var gradPrecision = GradientPrecision.fp32
    public var lrScaling = LearningRateScaling.none
    /// The global batch `lr_max` and `lr_min` are meant for: the paper's.
    public static let referenceBatch = 128

    public init() {}

    public init(section s: ConfigSection) throws {
        lrMax = try s.double("lr_max", default: lrMax, min: 0)
        lrMin = try s.double("lr_min", default: lrMin, min: 0)
        momentum = try s.double("momentum", default: momentum, min: 0, max: 0.999)
        weightDecay = try s.double("weight_decay", default: weightDecay, min: 0)
        weightDecayScope = try s.choice("weight_decay_scope", default: weightDecayScope)
        globalBatch = try s.int("global_batch", default: globalBatch, min: 1)
        gradPrecision = try s.choice("grad_precision", default: gradPrecision)
        lrScaling = try s.choice("lr_scaling", default: lrScaling)
        try s.finish()
        guard lrMax > 0 else {
            throw ConfigError("`\(s.name("lr_max"))` is 0; training needs a positive peak learning rate (the paper uses 0.1).")
        }
        guard lrMin <= lrMax else {
            throw ConfigError("`\(s.name("lr_min"))` (\(lrMin)) is above `\(s.name("lr_max"))` (\(lrMax)); the schedule decays from lr_max to lr_min.")
        }
    }

    /// `lr_max` and `lr_min` as the schedule uses them, after `lr_scaling`.
    public var scaledLearningRates: (max: Double, min: Double) {
        let scale = lrScaling == .linear ? Double(globalBatch) / Double(Self.referenceBatch) : 1
        return (lrMax * scale, lrMin * scale)
    }
}

extension OptimConfig {
    /// `gradPrecision` if this CPU runs it; a ConfigError saying what to set otherwise.
    public func gradPrecisionOnThisCPU() throws -> GradientPrecision {
        guard gradPrecision.runsOnThisCPU else {
            throw ConfigError("`optim.grad_precision` is \(gradPrecision.rawValue), but this CPU (\(CPUFeatures.current)) has no AVX512-BF16 (AVX-512 with bf16: Intel Cooper Lake, Sapphire Rapids and later, AMD Zen 4 and later); set optim.grad_precision: fp32 (or --set optim.grad_precision=fp32).")
        }
        return gradPrecision
    }
}

/// The `schedule:` section: SGDR warm restarts and the epoch budget.
public struct ScheduleConfig: Equatable {
    public var t0Epochs = 2
    public var tMult = 2
    public var boundaries = CycleBoundaries.mcdonnell
    /// The budget; it must end a cycle (30 = 2+4+8+16 McDonnell, 32 = 2+2+4+8+16 power-of-two,
    /// 254 and 256 for CIFAR).
    public var epochs = 30
    /// Epochs at the start over which the learning rate rises linearly from lr_min to the
    /// schedule's (0: none). For large global batches (`optim.lr_scaling: linear`); beyond the paper.
    public var warmupEpochs = 0

    public init() {}

    /// Bounds that keep every step count of the schedule far inside `Int` (the paper's budgets
    /// are 30 to 256 epochs).
    public static let maxEpochs = 100_000
    public static let maxTMult = 1_000

    public init(section s: ConfigSection) throws {
        t0Epochs = try s.int("t0_epochs", default: t0Epochs, min: 1, max: Self.maxEpochs)
        tMult = try s.int("t_mult", default: tMult, min: 1, max: Self.maxTMult)
        boundaries = try s.choice("boundaries", default: boundaries)
        let shape = schedule(lrMax: 1, lrMin: 0, stepsPerEpoch: 1)
        // By default the fewest whole cycles of at least 30 epochs: 30 McDonnell, 32 power-of-two.
        let cyclesOf30 = (1...).first { shape.epochs(cycles: $0) >= 30 }!
        epochs = try s.int("epochs", default: shape.epochs(cycles: cyclesOf30), min: 1, max: Self.maxEpochs)
        warmupEpochs = try s.int("warmup_epochs", default: warmupEpochs, min: 0, max: epochs)
        try s.finish()
        guard shape.cycles(endingAt: epochs) != nil else {
            var below = 0
            var cycle = 0
            while saturating(below, plus: shape.periodEpochs(ofCycle: cycle)) < epochs {
                below += shape.periodEpochs(ofCycle: cycle)
                cycle += 1
            }
            let above = saturating(below, plus: shape.periodEpochs(ofCycle: cycle))
            let choices = below == 0 ? "\(above)" : above > Self.maxEpochs ? "\(below)" : "\(below) or \(above)"
            throw ConfigError("`\(s.name("epochs"))` is \(epochs), inside an SGDR cycle (\(boundaries.rawValue) boundaries, t0_epochs \(t0Epochs), t_mult \(tMult)); use a cycle end such as \(choices).")
        }
    }

    /// The number of whole cycles in the budget (`epochs` ends a cycle: reading checks that).
    public var cycles: Int {
        guard let n = schedule(lrMax: 1, lrMin: 0, stepsPerEpoch: 1).cycles(endingAt: epochs) else {
            preconditionFailure("schedule.epochs \(epochs) is inside a cycle; set it to a cycle end")
        }
        return n
    }

    public func schedule(lrMax: Double, lrMin: Double, stepsPerEpoch: Int) -> SGDRSchedule {
        SGDRSchedule(lrMax: lrMax, lrMin: lrMin, t0Epochs: t0Epochs, tMult: tMult, boundaries: boundaries,
                     stepsPerEpoch: stepsPerEpoch, warmupEpochs: warmupEpochs)
    }
}

/// The `checkpoint:` section. A checkpoint is also written at the end of every SGDR cycle.
public struct CheckpointConfig: Equatable {
    public var everyEpochs = 1
    public var keepLast = 3
    public var keepBest = true

    public init() {}

    public init(section s: ConfigSection) throws {
        everyEpochs = try s.int("every_epochs", default: everyEpochs, min: 1)
        keepLast = try s.int("keep_last", default: keepLast, min: 1)
        keepBest = try s.bool("keep_best", default: keepBest)
        try s.finish()
    }
}

/// The `log:` section.
public struct LogConfig: Equatable {
    public var evalEveryEpochs = 1
    public var printEverySteps = 20
    /// How often ranks compare parameter checksums (0 = never).
    public var checksumEverySteps = 100

    public init() {}

    public init(section s: ConfigSection) throws {
        evalEveryEpochs = try s.int("eval_every_epochs", default: evalEveryEpochs, min: 1)
        printEverySteps = try s.int("print_every_steps", default: printEverySteps, min: 1)
        checksumEverySteps = try s.int("checksum_every_steps", default: checksumEverySteps, min: 0)
        try s.finish()
    }
}

/// When the gradient allreduce runs.
public enum AllreduceOverlap: String, CaseIterable {
    /// After backward on one host; across hosts, after backward for the first steps, then
    /// overlapped if the allreduce took more than a few percent of a step (`OverlapProbe`).
    case auto
    /// Each bucket's sum starts as soon as backward has completed its gradients.
    case on
    /// Every bucket's sum starts after backward.
    case off
}

/// The `distributed:` section: how gradients are summed over the ranks. Either way the sums are
/// bitwise the same (docs/SCALING.md); only the time differs.
public struct DistributedConfig: Equatable {
    public var overlap = AllreduceOverlap.auto
    /// The gradient buffer is summed in pieces of about this size.
    public var bucketMiB = 4.0

    public init() {}

    public init(section s: ConfigSection) throws {
        overlap = try s.choice("overlap", default: overlap)
        bucketMiB = try s.double("bucket_mib", default: bucketMiB, min: 1.0 / 1024, max: 1024)
        try s.finish()
    }

    /// The bucket size in floats.
    public var bucketFloats: Int { max(1, Int(bucketMiB * 1_048_576) / MemoryLayout<Float>.stride) }
}

/// Everything about training besides the model and data: the `optim`, `schedule`, `checkpoint`,
/// `log` and `distributed` sections and the top-level `seed`.
public struct TrainingConfig: Equatable {
    public var optim = OptimConfig()
    public var schedule = ScheduleConfig()
    public var checkpoint = CheckpointConfig()
    public var log = LogConfig()
    public var distributed = DistributedConfig()
    /// Seeds initialisation, data order and augmentation.
    public var seed = 0

    public init() {}

    /// The largest seed: a seed travels between ranks and through checkpoints, and stays exact there.
    public static let maxSeed = Int(UInt32.max)

    /// Reads the sections from the root of a config and records their resolved values there.
    public init(root: ConfigSection) throws {
        func read<T>(_ key: String, _ make: (ConfigSection) throws -> T) throws -> T {
            let section = try root.section(key)
            let value = try make(section)
            root.record(section: section)
            return value
        }
        optim = try read("optim", OptimConfig.init(section:))
        schedule = try read("schedule", ScheduleConfig.init(section:))
        checkpoint = try read("checkpoint", CheckpointConfig.init(section:))
        log = try read("log", LogConfig.init(section:))
        distributed = try read("distributed", DistributedConfig.init(section:))
        seed = try root.int("seed", default: seed, min: 0, max: Self.maxSeed)
    }
}
