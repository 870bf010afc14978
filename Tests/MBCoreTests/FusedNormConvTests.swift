import MBCore
import MBTestSupport
import XCTest

/// The fused BN-ReLU-1x1 layer against its naive route, `BatchNorm(relu: true)` then `Conv1x1`
/// (both checked by finite differences in KernelGradientTests).
final class FusedNormConvTests: XCTestCase {
    /// Two fused layers read the same two parts (one with per-part weights, one with a split
    /// weight, binarized), as in a clique block, so the deferred per-channel gradient terms of
    /// both consumers meet in the inputs' statistics. Forward (training and evaluation), running
    /// statistics, dW, dγ, dβ and each input's gradient must equal the naive route's.
    func testTwoFusedConsumersEqualBatchNormThenConv1x1() {
        var rng = SplitMix64(seed: 11)
        let parts = [3, 5], n = 3, h = 4, w = 5, o = 6
        let params = TensorStore(withGradients: true), state = TensorStore(withGradients: false)
        // Consumer 1: per-part float weights; consumer 2: one split binary weight.
        let w1 = [params.declare("w1a", shape: [o, 3], group: "t"), params.declare("w1b", shape: [o, 5], group: "t")]
        let w2 = params.declare("w2", shape: [o, 8], group: "t", binary: true)
        let fused1 = BatchNormReLUConv1x1(normName: "f1", weights: w1, partChannels: parts, outChannels: o, alpha: 0.7,
                                          binary: false, height: h, width: w, parameters: params, state: state)
        let fused2 = BatchNormReLUConv1x1(normName: "f2", weights: [w2], partChannels: parts, outChannels: o, alpha: 0.4,
                                          binary: true, height: h, width: w, parameters: params, state: state)
        let bn1 = BatchNorm(name: "r1", partChannels: parts, height: h, width: w, relu: true, parameters: params, state: state)
        let bn2 = BatchNorm(name: "r2", partChannels: parts, height: h, width: w, relu: true, parameters: params, state: state)
        let conv1 = Conv1x1(weights: w1, partChannels: parts, outChannels: o, alpha: 0.7, binary: false, height: h, width: w)
        let conv2 = Conv1x1(weight: w2, partChannels: parts, outChannels: o, alpha: 0.4, binary: true, height: h, width: w)
        params.allocate(); state.allocate()
        fillNormal(params.values.pointer, count: params.count, rng: &rng)
        for (f, r) in [(fused1.norm, bn1), (fused2.norm, bn2)] {
            f.initialize(parameters: params, state: state)
            r.initialize(parameters: params, state: state)
            fillNormal(params.value(f.gamma), count: 8, rng: &rng)
            fillNormal(params.value(f.beta), count: 8, std: 0.5, rng: &rng)
            params.value(r.gamma).update(from: params.value(f.gamma), count: 8)
            params.value(r.beta).update(from: params.value(f.beta), count: 8)
        }
        let source = WeightSource(parameters: params)
        source.refreshSigns()
        let a = randomActivation(n: n, c: 3, h: h, w: w, rng: &rng)
        let b = randomActivation(n: n, c: 5, h: h, w: w, rng: &rng)
        for i in 0..<b.count { b.value.pointer[i] = b.value.pointer[i] * 2 + 1 }
        a.resize(batch: n); b.resize(batch: n)

        func assertClose(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int, _ what: String) {
            var worst: Float = 0
            for i in 0..<count { worst = max(worst, abs(x[i] - y[i]) / max(1, abs(y[i]))) }
            XCTAssertLessThan(worst, 2e-5, what)
        }
        for training in [true, false] {
            if training { for x in [a, b] { x.statistics.compute(x) } }
            fused1.forward([a, b], parameters: params, state: state, weights: source, training: training)
            fused2.forward([a, b], parameters: params, state: state, weights: source, training: training)
            bn1.forward([a, b], parameters: params, state: state, training: training)
            bn2.forward([a, b], parameters: params, state: state, training: training)
            conv1.forward(bn1.outputs, weights: source)
            conv2.forward(bn2.outputs, weights: source)
            assertClose(fused1.output.value.pointer, conv1.output.value.pointer, count: conv1.output.count, "forward 1, training \(training)")
            assertClose(fused2.output.value.pointer, conv2.output.value.pointer, count: conv2.output.count, "forward 2, training \(training)")
        }
        for (f, r) in [(fused1.norm, bn1), (fused2.norm, bn2)] {
            assertClose(state.value(f.runningMean), state.value(r.runningMean), count: 8, "running mean")
            assertClose(state.value(f.runningVar), state.value(r.runningVar), count: 8, "running variance")
        }
        // Backward from the same output gradients through both routes, after a training forward.
        for x in [a, b] { x.statistics.compute(x) }
        fused1.forward([a, b], parameters: params, state: state, weights: source, training: true)
        fused2.forward([a, b], parameters: params, state: state, weights: source, training: true)
        bn1.forward([a, b], parameters: params, state: state, training: true)
        bn2.forward([a, b], parameters: params, state: state, training: true)
        let dy = [Buffer(count: fused1.output.count), Buffer(count: fused2.output.count)]
        for d in dy { fillNormal(d.pointer, count: d.count, rng: &rng) }
        params.zeroGradients()
        a.prepareGradient(); b.prepareGradient()
        for (f, d) in zip([fused1, fused2], dy) {
            f.output.prepareGradient()
            f.output.grad.pointer.update(from: d.pointer, count: d.count)
            f.backward([a, b], parameters: params, gradientGEMM: WeightGradientGEMM(precision: .fp32))
        }
        for x in [a, b] { x.deferredTerms.apply(to: x) }
        let fusedGradients = params.gradients!.array(count: params.count)
        let fusedDA = a.grad.array(count: a.count), fusedDB = b.grad.array(count: b.count)

        params.zeroGradients()
        a.prepareGradient(); b.prepareGradient()
        for ((bn, conv), d) in zip([(bn1, conv1), (bn2, conv2)], dy) {
            conv.output.prepareGradient()
            conv.output.grad.pointer.update(from: d.pointer, count: d.count)
            for y in bn.outputs { y.prepareGradient() }
            conv.backward(bn.outputs, weights: source)
            bn.backward([a, b], parameters: params)
        }
        assertClose(fusedDA, a.grad.pointer, count: a.count, "dA")
        assertClose(fusedDB, b.grad.pointer, count: b.count, "dB")
        let g = params.gradients!.pointer
        for t in w1 + [w2] { assertClose(fusedGradients.withUnsafeBufferPointer { $0.baseAddress! + t.offset }, g + t.offset, count: t.count, "dW") }
        for (f, r) in [(fused1.norm, bn1), (fused2.norm, bn2)] {
            assertClose(fusedGradients.withUnsafeBufferPointer { $0.baseAddress! + f.gamma.offset }, g + r.gamma.offset, count: 8, "dγ")
            assertClose(fusedGradients.withUnsafeBufferPointer { $0.baseAddress! + f.beta.offset }, g + r.beta.offset, count: 8, "dβ")
        }
    }

    /// Batch statistics against a Float64 loop, on a map whose mean is far from zero.
    func testBatchStatisticsMatchAFloat64Loop() {
        var rng = SplitMix64(seed: 12)
        let x = randomActivation(n: 3, c: 2, h: 3, w: 5, rng: &rng)
        for i in 0..<x.count { x.value.pointer[i] = x.value.pointer[i] * 0.5 + 100 }
        x.statistics.compute(x)
        for ch in 0..<x.c {
            var values: [Double] = []
            for img in 0..<x.n { for p in 0..<x.plane { values.append(Double(x.value.pointer[(img * x.c + ch) * x.plane + p])) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            XCTAssertEqual(Double(x.statistics.mean.pointer[ch]), mean, accuracy: 1e-4)
            XCTAssertEqual(Double(x.statistics.variance.pointer[ch]), variance, accuracy: 1e-4 * variance)
            XCTAssertEqual(Double(x.statistics.invStd.pointer[ch]), 1 / (variance + 1e-5).squareRoot(), accuracy: 1e-3)
        }
    }
}
