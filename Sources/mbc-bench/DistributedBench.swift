import ArgumentParser
import Foundation
import MBCore
import MBDistributed
import MBTrain

/// Options of `mbc-bench ddp`.
struct DistributedBenchOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: ArgumentHelp("Block widths, e.g. 64-128-256 (default: 64-64-128).", valueName: "widths"),
            transform: blockWidths)
    var widths = [64, 64, 128]
    @Option(help: "Filters per M-filter group (k).") var k = 4
    @Option(help: "Untimed training steps first.") var warmup = 3
    @Option(help: "Timed training steps.") var steps = 5
    @Option(help: "Images per step over all ranks.") var globalBatch = 128
    @Option(help: "Test images per evaluation.") var evalImages = 2048
    @Option(help: "Images per evaluation batch.") var evalBatch = 256
    @Option(help: "Timed evaluations (0: none).") var evalRepeats = 3
    @Option(help: "When the gradient allreduce runs: auto, on (overlapped with backward) or off (after it).")
    var overlap = "auto"
    @Option(help: "Gradient allreduce bucket size in MiB.") var bucketMib = 4.0

    func validate() throws {
        let least = [("--k", k, 1), ("--warmup", warmup, 1), ("--steps", steps, 1), ("--global-batch", globalBatch, 1),
                     ("--eval-images", evalImages, 1), ("--eval-batch", evalBatch, 1), ("--eval-repeats", evalRepeats, 0)]
        for (name, value, minimum) in least where value < minimum {
            throw ValidationError("\(name) \(value): expected an integer >= \(minimum)")
        }
    }

    var modelName: String { widths.map(String.init).joined(separator: "-") }

    /// A synthetic 3x32x32 run: no augmentation, enough training images that no epoch ends before
    /// the last timed step, the evaluation set sharded across ranks, no periodic checksums.
    var configYAML: String {
        """
        model: {in_channels: 3, image_size: 32, classes: 10, widths: [\(widths.map(String.init).joined(separator: ", "))], layers: 4, k: \(k), stem_channels: 64, compression: true, binarize: all}
        data: {dataset: synthetic, synthetic_shape: [3, 32, 32], classes: 10, synthetic_train_count: \(globalBatch * (warmup + steps + 1)), synthetic_test_count: \(evalImages), eval_batch: \(evalBatch), flip: false, crop_padding: 0}
        optim: {global_batch: \(globalBatch), lr_max: 0.1, momentum: 0.9, weight_decay: 5.0e-4}
        checkpoint: {keep_last: 1, keep_best: false}
        log: {print_every_steps: 1, checksum_every_steps: 0}
        distributed: {overlap: \(overlap), bucket_mib: \(bucketMib)}
        """
    }
}

/// `64-64-128` as [64, 64, 128].
func blockWidths(_ text: String) throws -> [Int] {
    let widths = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
    guard widths.allSatisfy({ $0 > 0 }) else {
        throw ValidationError("expected block widths such as 64-64-128")
    }
    return widths
}

/// This process's peak resident set (VmHWM of /proc/self/status) in MiB; 0 where there is none.
func peakResidentMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return 0 }
    return kib / 1024
}

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }

func median(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.sorted()[values.count / 2] }

/// `mbc-bench ddp`: data-parallel training and sharded evaluation throughput of the real trainer
/// on synthetic data, under `mpirun -np N` (or one process). Rank 0 prints one JSON line.
func runDistributedBenchmark(_ options: DistributedBenchOptions) throws {
    try OpenBLAS.load()  // before MPI starts
    BLASThreads.set(1)
    let world = try makeWorldCommunicator()
    let config = try RunConfig(tree: try ConfigValue.parse(yaml: options.configYAML, source: "mbc-bench ddp"))
    let runDirectory = NSTemporaryDirectory() + "mbc-bench-ddp-\(ProcessInfo.processInfo.processIdentifier)"
    defer { if world.rank == 0 { try? FileManager.default.removeItem(atPath: runDirectory) } }
    let trainer = try Trainer(config: config, runDirectory: runDirectory, world: world)
    try trainer.prepareRunDirectory()
    try trainer.initialize()

    // A timestamp at the end of every step; the phase profile restarts after the warm-up steps;
    // the training peak is read at the last step, before the trainer's closing evaluation.
    let phases = KernelProfile()
    trainer.stepProfile = phases
    var stepEnds: [UInt64] = []
    var trainingPeak = 0.0
    let trainStart = DispatchTime.now().uptimeNanoseconds
    var allreduceChoice = "none"
    _ = try trainer.train(maxSteps: options.warmup + options.steps) { event in
        if case .allreduceChosen(let step, let overlapped, let fraction) = event {
            allreduceChoice = String(format: "%@ from step %d (%.1f %% of a step after backward)",
                                     overlapped ? "overlapped" : "after backward", step + 1, fraction * 100)
        }
        guard case .progress(let step, _, _, _, _, _) = event else { return }
        stepEnds.append(DispatchTime.now().uptimeNanoseconds)
        if step == options.warmup { phases.reset() }
        if step == options.warmup + options.steps { trainingPeak = peakResidentMiB() }
    }
    trainer.stepProfile = nil
    let ends = [trainStart] + stepEnds
    let stepSeconds = (options.warmup..<(options.warmup + options.steps)).map { Double(ends[$0 + 1] - ends[$0]) * 1e-9 }
    let timed = stepSeconds.reduce(0, +)

    // Training ended with an evaluation, which warmed the evaluation path up; 0 repeats skip the timing.
    var evalSeconds: [Double] = []
    for _ in 0..<options.evalRepeats {
        try world.barrier()
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try trainer.evaluateTestSet()
        evalSeconds.append(seconds(since: start))
    }

    let perRank = String(format: "{\"peak_rss_mib\": %.1f, \"peak_rss_mib_training\": %.1f, \"phase_seconds_per_step\": {%@}}",
                         peakResidentMiB(), trainingPeak,
                         phases.seconds.sorted { $0.key < $1.key }
                            .map { String(format: "\"%@\": %.4f", $0.key, $0.value / Double(options.steps)) }
                            .joined(separator: ", "))
    let allreduce = try trainer.allreduceTiming().description
    let gathered = try world.gather(perRank, root: 0)
    if let gathered {
        let fields = [
            "\"side\": \"mbc\"", "\"model\": \"\(options.modelName)\"", "\"k\": \(options.k)", "\"ranks\": \(world.size)",
            "\"global_batch\": \(options.globalBatch)", "\"allreduce\": \"\(allreduce)\"", "\"allreduce_chosen\": \"\(allreduceChoice)\"", "\"blas\": \"\(OpenBLAS.summary)\"", "\"warmup\": \(options.warmup)", "\"steps\": \(options.steps)",
            String(format: "\"train_images_per_second\": %.2f", Double(options.globalBatch * options.steps) / timed),
            String(format: "\"train_images_per_second_median_step\": %.2f", Double(options.globalBatch) / median(stepSeconds)),
            "\"train_step_seconds\": [\(stepSeconds.map { String(format: "%.4f", $0) }.joined(separator: ", "))]",
            "\"eval_images\": \(options.evalImages)", "\"eval_batch\": \(options.evalBatch)",
            "\"eval_images_per_second\": " + (evalSeconds.isEmpty ? "null" : String(format: "%.2f", Double(options.evalImages) / median(evalSeconds))),
            "\"per_rank\": [\(gathered.joined(separator: ", "))]",
        ]
        print("{" + fields.joined(separator: ", ") + "}")
    }
    try world.finalize()
}
