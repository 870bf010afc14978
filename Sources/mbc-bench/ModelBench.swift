import Foundation
import MBBase
import MBCliqueNet
import MBCore
import MBRowKernels

/// Median wall time of `repeats` runs of `body` after one warm-up run.
func medianSeconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    let times = (0..<repeats).map { _ in
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return seconds(since: start)
    }
    return median(times)
}

func benchmarkConfig(widths: [Int], k: Int) -> ModelConfig {
    var c = ModelConfig()
    c.widths = widths
    c.k = k
    return c
}

/// One training step (forward + backward, batch 64, 3x32x32) and one evaluation forward
/// (batch 256) per model, on one thread: images/s, achieved GFLOP/s and time per kernel kind.
func runModelBenchmark(repeats: Int) throws {
    BLASThreads.set(1)
    print("== model: one training step (batch 64) and one evaluation forward (batch 256), 1 thread, OpenBLAS \(OpenBLAS.summary) ==")
    let peak = PeakRates(repeats: repeats)
    print(peak.description)
    for widths in [[64, 64, 128], [64, 128, 256]] {
        let config = benchmarkConfig(widths: widths, k: 4)
        let model = try MBCliqueNet(config: config)
        model.initialize(seed: 1)
        let macs = ModelSummary(model: model).total.multiplyAdds
        var rng = SplitMix64(seed: 2)
        let images = Buffer(count: 256 * 3 * 32 * 32)
        for i in 0..<images.count { images.pointer[i] = Float(rng.normal()) }
        let labels = (0..<256).map { Int32($0 % 10) }
        let profile = KernelProfile()
        let train = labels.withUnsafeBufferPointer { l in
            medianSeconds(repeats: repeats) {
                model.parameters.zeroGradients()
                model.trainStep(images: images.pointer, labels: l.baseAddress!, count: 64)
            }
        }
        model.profile = profile
        labels.withUnsafeBufferPointer { l in
            model.parameters.zeroGradients()
            model.trainStep(images: images.pointer, labels: l.baseAddress!, count: 64)
        }
        model.profile = nil
        let eval = medianSeconds(repeats: repeats) { model.forward(images: images.pointer, count: 256, training: false) }
        // FLOPs: 2 per multiply-add; a training step is forward + dX + dW ≈ 3 forward passes.
        let trainFlops = 3.0 * 2 * Double(macs) * 64, evalFlops = 2.0 * Double(macs) * 256
        let name = widths.map(String.init).joined(separator: "-") + " k=4"
        print(String(format: "%@  train: %.3f s/step  %.1f img/s  %.1f GFLOP/s   eval: %.3f s  %.1f img/s  %.1f GFLOP/s",
                     name, train, 64 / train, trainFlops / train / 1e9, eval, 256 / eval, evalFlops / eval / 1e9))
        let total = profile.seconds.values.reduce(0, +)
        let shares = profile.seconds.sorted { $0.value > $1.value }
            .map { String(format: "%@ %.3f s (%.0f%%)", $0.key, $0.value, 100 * $0.value / total) }.joined(separator: ", ")
        print("    training step time by kernel: \(shares)")
        for line in tableLines(peak.rows(profile: profile, model: model, batch: 64)) { print("    " + line) }
        if GradientPrecision.bf16.runsOnThisCPU {
            // The same step with bf16 weight-gradient products (optim.grad_precision: bf16).
            model.gradientPrecision = .bf16
            let bf16Profile = KernelProfile()
            let trainBF16 = labels.withUnsafeBufferPointer { l in
                let seconds = medianSeconds(repeats: repeats) {
                    model.parameters.zeroGradients()
                    model.trainStep(images: images.pointer, labels: l.baseAddress!, count: 64)
                }
                model.profile = bf16Profile
                model.parameters.zeroGradients()
                model.trainStep(images: images.pointer, labels: l.baseAddress!, count: 64)
                model.profile = nil
                return seconds
            }
            model.gradientPrecision = .fp32
            print(String(format: "%@  train with bf16 weight gradients: %.3f s/step  %.1f img/s  (%.2fx fp32)",
                         name, trainBF16, 64 / trainBF16, train / trainBF16))
            for line in tableLines(peak.rows(profile: bf16Profile, model: model, batch: 64)) { print("    " + line) }
        }
    }
}

/// One core's peak multiply-add rate, two ways: from the clock /proc/cpuinfo reports and the
/// vector width of the row loops' build (two FMA pipes assumed, as on the Zen 4/5 and Xeon cores
/// mbc runs on), and measured on registers alone by `RowKernels.multiplyAddProbe`. Under a VM
/// /proc/cpuinfo gives the base clock, not the boost clock the core runs at, so the kernels are
/// compared with the measured fp32 rate, and with twice that for bf16 (a bf16 dot-product
/// instruction does two multiply-adds per fp32 lane at the FMA's throughput).
struct PeakRates: CustomStringConvertible {
    let build: String
    let megahertz: Double?
    let lanes: Double
    let measured: Double   // GFLOP/s
    var nominal: Double? { megahertz.map { $0 / 1000 * lanes * 2 * 2 } }

    init(repeats: Int) {
        let kernels = RowKernels.forThisCPU
        build = kernels.name
        lanes = build == "avx512" ? 16 : build == "avx2" ? 8 : 4
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        megahertz = cpuinfo.split(separator: "\n").first { $0.hasPrefix("cpu MHz") }
            .flatMap { $0.split(separator: ":").last }.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let iterations = 20_000_000
        var sink: Float = 0
        let seconds = medianSeconds(repeats: repeats) { sink += kernels.multiplyAddProbe(iterations) }
        precondition(sink.isFinite, "the multiply-add probe diverged")   // and its result is used
        measured = Double(iterations) * 12 * 16 * 2 / seconds / 1e9
    }

    var description: String {
        let clock = megahertz.map { String(format: "%.0f MHz", $0) } ?? "clock unknown"
        let nominalText = nominal.map { String(format: "%.1f GFLOP/s fp32, %.1f bf16", $0, 2 * $0) } ?? "unknown"
        return String(format: "peak per core: measured %.1f GFLOP/s fp32, so %.1f bf16 (%@ build, registers only); nominal %@ (%@ x %.0f lanes x 2 FMA pipes x 2)",
                      measured, 2 * measured, build, nominalText, clock, lanes)
    }

    /// Per kernel kind and pass of one training step: time, share, GFLOP/s of the multiply-adds the
    /// model's summary counts for that kind (forward: 2 per MAC; backward: dX and dW, 4 per MAC;
    /// GEMM-equivalent where sign tables replace the arithmetic), and that rate against the peaks.
    func rows(profile: KernelProfile, model: MBCliqueNet, batch: Int) -> [[String]] {
        let macs = Dictionary(ModelSummary(model: model).rows.map { ($0.kind, Double($0.multiplyAdds)) }, uniquingKeysWith: +)
        let macsByKind: [String: Double] = [
            "BN-ReLU-1x1 (fused)": ["block 1x1", "transition", "compression"].reduce(0) { $0 + (macs[$1] ?? 0) },
            "modulated 3x3": macs["modulated 3x3"] ?? 0, "stem 3x3": macs["stem"] ?? 0, "head + loss": macs["head"] ?? 0,
        ]
        let total = profile.seconds.values.reduce(0, +)
        var rows = [["kernel", "pass", "seconds", "share", "GFLOP/s", "of fp32 peak", "of bf16 peak"]]
        for (key, seconds) in profile.seconds.sorted(by: { $0.value > $1.value }) {
            let pass = key.hasSuffix(" backward") ? "backward" : "forward"
            let kind = String(key.dropLast(pass.count + 1))
            var rate = "–", ofPeak = "–", ofBF16 = "–"
            if let m = macsByKind[kind], m > 0 {
                let gflops = m * Double(batch) * (pass == "forward" ? 2 : 4) / seconds / 1e9
                rate = String(format: "%.1f", gflops)
                ofPeak = String(format: "%.0f%%", 100 * gflops / measured)
                ofBF16 = String(format: "%.0f%%", 100 * gflops / (2 * measured))
            }
            rows.append([kind, pass, String(format: "%.3f", seconds), String(format: "%.0f%%", 100 * seconds / total), rate, ofPeak, ofBF16])
        }
        return rows
    }
}

/// The factored modulated conv against the naive route (build Q, im2col + GEMM) on the block
/// shapes of the two models, forward + backward, batch 64, one thread.
func runModulatedConvBenchmark(repeats: Int) {
    BLASThreads.set(1)
    print("== modulated 3x3 conv, forward + backward, batch 64, 1 thread: factored vs naive ==")
    let k = 4, n = 64
    for (c, size) in [(64, 32), (64, 16), (128, 16), (128, 8), (256, 8)] {
        let params = TensorStore(withGradients: true)
        let latent = params.declare("c", shape: [c / k, c, 3, 3], group: "t", binary: true)
        let m = params.declare("m", shape: [k, 3, 3], group: "t")
        params.allocate()
        var rng = SplitMix64(seed: 3)
        for i in 0..<params.count { params.values.pointer[i] = Float(rng.normal()) }
        let filter = ModulatedFilter(latent: latent, filters: c / k, inChannels: c, binary: true)
        let factored = ModulatedConv(filter: filter, mfilter: m, k: k, height: size, width: size)
        let naive = NaiveModulatedConv(filters: c / k, inChannels: c, k: k, height: size, width: size)
        let x = Activation(channels: c, height: size, width: size)
        x.resize(batch: n)
        for i in 0..<x.count { x.value.pointer[i] = Float(rng.normal()) }
        x.prepareGradient()
        let b = Buffer(count: latent.count)
        binarize(params.value(latent), into: b.pointer, count: latent.count)
        let db = Buffer(count: latent.count), dm = Buffer(count: m.count)
        let gradientGEMM = WeightGradientGEMM(precision: .fp32)
        let tFactored = medianSeconds(repeats: repeats) {
            filter.prepare(parameters: params)
            factored.forward(x, parameters: params)
            factored.output.prepareGradient()
            factored.backward(x, parameters: params, gradientGEMM: gradientGEMM)
            filter.foldGradient(parameters: params)
        }
        let tNaive = medianSeconds(repeats: repeats) {
            naive.forward(x, b: b.pointer, m: params.value(m))
            naive.output.prepareGradient()
            naive.backward(x, b: b.pointer, m: params.value(m), db: db.pointer, dm: dm.pointer)
        }
        print(String(format: "c=%3d %2dx%-2d k=%d  factored %.4f s  naive %.4f s  speed-up %.2fx", c, size, size, k,
                     tFactored, tNaive, tNaive / tFactored))
    }
}
