import MBCore
import XCTest
@testable import MBTrain

final class TrainConfigTests: XCTestCase {
    func training(_ yaml: String) throws -> (TrainingConfig, ConfigValue) {
        let root = try ConfigSection(path: "", value: try ConfigValue.parse(yaml: yaml, source: "test"))
        let config = try TrainingConfig(root: root)
        try root.finish()
        return (config, root.resolvedValue)
    }

    func assertRejects(_ yaml: String, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try training(yaml), line: line) { error in
            XCTAssertTrue(error is ConfigError, "\(error)", line: line)
            for w in words { XCTAssertTrue("\(error)".contains(w), "`\(error)` does not mention `\(w)`", line: line) }
        }
    }

    func testDefaultsAreThePapersRecipe() throws {
        let (c, resolved) = try training("")
        XCTAssertEqual(c.optim, OptimConfig())
        XCTAssertEqual([c.optim.lrMax, c.optim.lrMin, c.optim.momentum, c.optim.weightDecay], [0.1, 1e-4, 0.9, 5e-4])
        XCTAssertEqual(c.optim.weightDecayScope, .all)
        XCTAssertEqual(c.optim.globalBatch, 128)
        XCTAssertEqual(c.optim.gradPrecision, .fp32)
        XCTAssertEqual([c.schedule.t0Epochs, c.schedule.tMult, c.schedule.epochs, c.schedule.cycles], [2, 2, 30, 4])
        XCTAssertEqual(c.schedule.boundaries, .mcdonnell)
        XCTAssertEqual(c.checkpoint, CheckpointConfig())
        XCTAssertEqual(c.log, LogConfig())
        XCTAssertEqual(c.seed, 0)
        let yaml = resolved.yaml()
        for line in ["optim:\n", "  weight_decay_scope: all\n", "  grad_precision: fp32\n", "schedule:\n", "  epochs: 30\n", "checkpoint:\n",
                     "  keep_last: 3\n", "log:\n", "  checksum_every_steps: 100\n", "seed: 0\n"] {
            XCTAssertTrue(yaml.contains(line), "resolved config lacks `\(line)`:\n\(yaml)")
        }
    }

    func testValuesAreRead() throws {
        let (c, _) = try training("""
            optim: {lr_max: 0.2, lr_min: 1e-5, weight_decay: 1e-4, weight_decay_scope: conv, global_batch: 256}
            schedule: {boundaries: power-of-two, epochs: 256}
            checkpoint: {every_epochs: 4, keep_last: 1, keep_best: false}
            log: {eval_every_epochs: 2, print_every_steps: 5, checksum_every_steps: 0}
            seed: 7
            """)
        XCTAssertEqual(c.optim.lrMax, 0.2)
        XCTAssertEqual(c.optim.weightDecayScope, .conv)
        XCTAssertEqual(c.optim.globalBatch, 256)
        XCTAssertEqual(c.schedule.cycles, 8)
        XCTAssertEqual(c.checkpoint.keepBest, false)
        XCTAssertEqual(c.log.checksumEverySteps, 0)
        XCTAssertEqual(c.seed, 7)
        XCTAssertEqual(try training("schedule: {boundaries: power-of-two}").0.schedule.epochs, 32,
                       "the default budget follows the boundaries")
    }

    /// `lr_scaling: linear` multiplies both rates by global_batch / 128; `none` (the default) leaves them.
    func testLinearScalingFollowsTheGlobalBatch() throws {
        let (c, resolved) = try training("optim: {global_batch: 512, lr_scaling: linear}\nschedule: {warmup_epochs: 5}")
        XCTAssertEqual(c.optim.scaledLearningRates.max, 0.4, accuracy: 1e-15)
        XCTAssertEqual(c.optim.scaledLearningRates.min, 4e-4, accuracy: 1e-18)
        XCTAssertEqual(c.schedule.warmupEpochs, 5)
        XCTAssertEqual(c.schedule.schedule(lrMax: 1, lrMin: 0, stepsPerEpoch: 3).warmupEpochs, 5)
        XCTAssertTrue(resolved.yaml().contains("  lr_scaling: linear\n"), resolved.yaml())
        let plain = try training("optim: {global_batch: 512}").0
        XCTAssertEqual(plain.optim.lrScaling, .none)
        XCTAssertEqual(plain.optim.scaledLearningRates.max, 0.1)
        XCTAssertEqual(plain.schedule.warmupEpochs, 0)
    }

    func testBadValuesAreRejectedWithTheKeyNamed() {
        assertRejects("optim: {lr_min: 0.5}", mentioning: ["optim.lr_min", "above", "optim.lr_max"])
        assertRejects("optim: {lr_max: 0}", mentioning: ["optim.lr_max", "positive"])
        assertRejects("optim: {momentum: 1.5}", mentioning: ["optim.momentum", "at most"])
        assertRejects("optim: {weight_decay: -1}", mentioning: ["optim.weight_decay", "at least 0"])
        assertRejects("optim: {weight_decay_scope: bn}", mentioning: ["optim.weight_decay_scope", "all, conv"])
        assertRejects("optim: {global_batch: 0}", mentioning: ["optim.global_batch"])
        assertRejects("optim: {grad_precision: fp16}", mentioning: ["optim.grad_precision", "fp32, bf16"])
        assertRejects("optim: {grad_precision: BF16}", mentioning: ["optim.grad_precision", "fp32, bf16"])
        assertRejects("optim: {weight_decy: 1}", mentioning: ["unknown key `optim.weight_decy`", "did you mean `optim.weight_decay`"])
        assertRejects("schedule: {epochs: 32}", mentioning: ["schedule.epochs", "inside an SGDR cycle", "30 or 62"])
        assertRejects("schedule: {epochs: 1}", mentioning: ["schedule.epochs", "such as 2."])
        assertRejects("schedule: {boundaries: power-of-two, epochs: 30}", mentioning: ["16 or 32"])
        assertRejects("schedule: {t_mult: 0}", mentioning: ["schedule.t_mult", "at least 1"])
        assertRejects("schedule: {boundaries: cosine}", mentioning: ["mcdonnell, power-of-two"])
        assertRejects("optim: {lr_scaling: sqrt}", mentioning: ["optim.lr_scaling", "none, linear"])
        assertRejects("schedule: {warmup_epochs: 31}", mentioning: ["schedule.warmup_epochs", "at most 30"])
        assertRejects("distributed: {overlap: maybe}", mentioning: ["distributed.overlap", "auto, on, off"])
        assertRejects("distributed: {bucket_mib: 0}", mentioning: ["distributed.bucket_mib", "at least"])
        assertRejects("checkpoint: {keep_last: 0}", mentioning: ["checkpoint.keep_last"])
        assertRejects("log: {print_every_steps: 0}", mentioning: ["log.print_every_steps"])
        assertRejects("seed: -3", mentioning: ["seed"])
        assertRejects("log: 3", mentioning: ["`log` must be a mapping"])
    }

    /// Each value of `optim.grad_precision` is read, written into the resolved config and read
    /// back from it to the same training config.
    func testGradPrecisionReadsBackFromTheResolvedConfig() throws {
        for precision in GradientPrecision.allCases {
            let (c, resolved) = try training("optim: {grad_precision: \(precision.rawValue)}")
            XCTAssertEqual(c.optim.gradPrecision, precision)
            let yaml = resolved.yaml()
            XCTAssertTrue(yaml.contains("  grad_precision: \(precision.rawValue)\n"), yaml)
            XCTAssertEqual(try training(yaml).0, c)
        }
    }

    /// bf16 is granted exactly where the CPU has AVX512-BF16 (and AVX-512); elsewhere the refusal
    /// names the option and the value to set. fp32 runs anywhere.
    func testGradPrecisionBF16NeedsAVX512BF16() throws {
        XCTAssertEqual(try OptimConfig().gradPrecisionOnThisCPU(), .fp32)
        var optim = OptimConfig()
        optim.gradPrecision = .bf16
        let cpu = CPUFeatures.current
        if cpu.isSuperset(of: CPUFeatures.avx512.union(.avx512bf16)) {
            XCTAssertEqual(try optim.gradPrecisionOnThisCPU(), .bf16)
        } else {
            XCTAssertThrowsError(try optim.gradPrecisionOnThisCPU()) { error in
                for w in ["optim.grad_precision", "AVX512-BF16", "optim.grad_precision: fp32"] {
                    XCTAssertTrue("\(error)".contains(w), "`\(error)` does not mention `\(w)`")
                }
            }
        }
    }
}
