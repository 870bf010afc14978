import Foundation
import MBCliqueNet
import MBCore

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
        let tFactored = medianSeconds(repeats: repeats) {
            filter.prepare(parameters: params)
            factored.forward(x, parameters: params)
            factored.output.prepareGradient()
            factored.backward(x, parameters: params)
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
