@testable import MBCliqueNet
import MBCore
import MBTestSupport
import XCTest

/// The factored modulated conv (docs/MODEL.md section 6) against the naive route (build Q, convolve).
final class ModulatedConvTests: XCTestCase {
    struct Setup {
        let params = TensorStore(withGradients: true)
        let latent: TensorRef
        let mfilter: TensorRef
        let filter: ModulatedFilter
        let conv: ModulatedConv
        let naive: NaiveModulatedConv
        let x: Activation
        let dy: Buffer

        init(n: Int, c: Int, o: Int, k: Int, h: Int, w: Int, binary: Bool, seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            latent = params.declare("c", shape: [o / k, c, 3, 3], group: "t", binary: binary)
            mfilter = params.declare("m", shape: [k, 3, 3], group: "t")
            params.allocate()
            fillNormal(params.values.pointer, count: params.count, std: 0.5, rng: &rng)
            filter = ModulatedFilter(latent: latent, filters: o / k, inChannels: c, binary: binary)
            conv = ModulatedConv(filter: filter, mfilter: mfilter, k: k, height: h, width: w)
            naive = NaiveModulatedConv(filters: o / k, inChannels: c, k: k, height: h, width: w)
            x = randomActivation(n: n, c: c, h: h, w: w, rng: &rng)
            dy = Buffer(count: n * o * h * w)
            fillNormal(dy.pointer, count: dy.count, rng: &rng)
        }

        /// The filters the naive route multiplies: sign(C) (sign(0) = +1) or C.
        func naiveFilters() -> Buffer {
            let b = Buffer(count: latent.count)
            let c = params.value(latent)
            for i in 0..<latent.count { b.pointer[i] = filter.binary ? (c[i] >= 0 ? 1 : -1) : c[i] }
            return b
        }

        func runFactored() {
            filter.prepare(parameters: params)
            conv.forward(x, parameters: params)
        }
    }

    func assertClose(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        var scale: Float = 0, worst: Float = 0
        for i in 0..<count { scale = max(scale, abs(b[i])); worst = max(worst, abs(a[i] - b[i])) }
        // Float32 sums of up to 9·C·H·W terms in different orders: rounding, relative to the largest value.
        XCTAssertLessThanOrEqual(worst, 2e-5 * max(scale, 1), "\(what): worst difference \(worst), scale \(scale)", file: file, line: line)
        XCTAssertGreaterThan(scale, 0, "\(what) is all zero", file: file, line: line)
    }

    func testFactoredEqualsNaiveForwardAndBackward() {
        for (k, seed) in [(1, 11), (2, 12), (4, 13), (8, 14)] {
            for binary in [true, false] {
                // Non-square, small images: most pixels touch a border.
                let s = Setup(n: 3, c: 5, o: 8, k: k, h: 5, w: 7, binary: binary, seed: UInt64(seed))
                s.runFactored()
                let b = s.naiveFilters()
                let m = s.params.value(s.mfilter)
                s.naive.forward(s.x, b: b.pointer, m: m)
                assertClose(s.conv.output.value.pointer, s.naive.output.value.pointer, count: s.conv.output.count, "Y k=\(k)")

                // Factored backward.
                s.params.zeroGradients()
                s.x.prepareGradient()
                s.conv.output.prepareGradient()
                s.conv.output.grad.pointer.update(from: s.dy.pointer, count: s.dy.count)
                s.conv.backward(s.x, parameters: s.params, gradientGEMM: WeightGradientGEMM(precision: .fp32))
                s.filter.foldGradient(parameters: s.params)
                let dx = Buffer(count: s.x.count); dx.pointer.update(from: s.x.grad.pointer, count: s.x.count)
                // Naive backward.
                let db = Buffer(count: s.latent.count), dm = Buffer(count: s.mfilter.count)
                s.x.prepareGradient()
                s.naive.output.prepareGradient()
                s.naive.output.grad.pointer.update(from: s.dy.pointer, count: s.dy.count)
                s.naive.backward(s.x, b: b.pointer, m: m, db: db.pointer, dm: dm.pointer)
                assertClose(dx.pointer, s.x.grad.pointer, count: s.x.count, "dX k=\(k) binary=\(binary)")
                assertClose(s.params.gradient(s.latent), db.pointer, count: s.latent.count, "dC k=\(k) binary=\(binary)")
                assertClose(s.params.gradient(s.mfilter), dm.pointer, count: s.mfilter.count, "dM k=\(k) binary=\(binary)")
            }
        }
    }

    /// With binarization off (Q = M ⊙ C) the conv is smooth: finite differences on X, C and M.
    func testUnbinarizedModulatedConvFiniteDifferences() {
        var rng = SplitMix64(seed: 21)
        let s = Setup(n: 2, c: 4, o: 6, k: 3, h: 4, w: 5, binary: false, seed: 22)
        s.runFactored()
        s.params.zeroGradients()
        s.x.prepareGradient()
        s.conv.output.prepareGradient()
        s.conv.output.grad.pointer.update(from: s.dy.pointer, count: s.dy.count)
        s.conv.backward(s.x, parameters: s.params, gradientGEMM: WeightGradientGEMM(precision: .fp32))
        s.filter.foldGradient(parameters: s.params)
        let loss = { () -> Double in s.runFactored(); return dot(s.conv.output.value.pointer, s.dy.pointer, count: s.dy.count) }
        for (name, values, analytic, count) in [
            ("dX", s.x.value.pointer, UnsafePointer(s.x.grad.pointer), s.x.count),
            ("dC", s.params.value(s.latent), UnsafePointer(s.params.gradient(s.latent)), s.latent.count),
            ("dM", s.params.value(s.mfilter), UnsafePointer(s.params.gradient(s.mfilter)), s.mfilter.count),
        ] {
            let r = checkGradient(values: values, analytic: analytic, indices: sampleIndices(count: count, limit: 60, rng: &rng),
                                  step: 1e-2, floor: 1e-2, loss: loss)
            // Linear in each argument: only Float32 rounding of L (~1e-6/2h) remains.
            XCTAssertLessThan(r.worst, 1e-3, "\(name): \(r)")
        }
    }

    /// The factored route does about 1/k of the naive arithmetic (docs/MODEL.md section 6.4): its MAC count.
    func testMultiplyAddCountsFollowTheSpecRatio() throws {
        var config = ModelConfig()
        config.widths = [64, 64, 128]
        let model = try MBCliqueNet(config: config)
        let modulated = model.multiplyAddsByKind().filter { $0.0 == ConvKind.modulated3x3.rawValue }
        let factored = modulated.map(\.1).reduce(0, +), naive = modulated.map(\.2).reduce(0, +)
        // Ratio 1/k + 1/C per conv; C = 64 or 128 here.
        let ratio = Double(factored) / Double(naive)
        XCTAssertGreaterThan(ratio, 0.25 + 1.0 / 128)
        XCTAssertLessThan(ratio, 0.25 + 1.0 / 64)
    }

    /// The modulated conv with its pre-activation BN-ReLU fused in equals `BatchNorm(relu: true)`
    /// followed by the plain modulated conv: output, running statistics, dX (after the deferred
    /// terms are applied), dC, dM, dγ and dβ.
    func testPreActivatedConvEqualsBatchNormThenConv() {
        let n = 3, c = 6, o = 8, k = 2, h = 5, w = 4
        var rng = SplitMix64(seed: 21)
        let params = TensorStore(withGradients: true), state = TensorStore(withGradients: false)
        let latent = params.declare("c", shape: [o / k, c, 3, 3], group: "t", binary: true)
        let mfilter = params.declare("m", shape: [k, 3, 3], group: "t")
        let fusedNorm = BatchNormParameters(name: "f", channels: c, parameters: params, state: state)
        let bn = BatchNorm(name: "r", partChannels: [c], height: h, width: w, relu: true, parameters: params, state: state)
        params.allocate(); state.allocate()
        fillNormal(params.values.pointer, count: params.count, std: 0.5, rng: &rng)
        fusedNorm.initialize(parameters: params, state: state)
        bn.initialize(parameters: params, state: state)
        fillNormal(params.value(fusedNorm.gamma), count: c, rng: &rng)
        fillNormal(params.value(fusedNorm.beta), count: c, std: 0.5, rng: &rng)
        params.value(bn.gamma).update(from: params.value(fusedNorm.gamma), count: c)
        params.value(bn.beta).update(from: params.value(fusedNorm.beta), count: c)
        let filter = ModulatedFilter(latent: latent, filters: o / k, inChannels: c, binary: true)
        let fused = ModulatedConv(filter: filter, mfilter: mfilter, k: k, height: h, width: w,
                                  preActivation: PreActivation(norm: fusedNorm, partChannels: [c], height: h, width: w))
        let plain = ModulatedConv(filter: filter, mfilter: mfilter, k: k, height: h, width: w)
        let x = randomActivation(n: n, c: c, h: h, w: w, rng: &rng)
        x.resize(batch: n)
        filter.prepare(parameters: params)
        for training in [false, true] {
            if training { x.statistics.compute(x) }
            fused.forward(x, parameters: params, state: state, training: training)
            bn.forward([x], parameters: params, state: state, training: training)
            plain.forward(bn.outputs[0], parameters: params)
            assertClose(fused.output.value.pointer, plain.output.value.pointer, count: plain.output.count, "Y training=\(training)")
        }
        assertClose(state.value(fusedNorm.runningVar), state.value(bn.runningVar), count: c, "running variance")
        let dy = Buffer(count: fused.output.count)
        fillNormal(dy.pointer, count: dy.count, rng: &rng)
        func backward(_ conv: ModulatedConv, input: Activation) -> [Float] {
            params.zeroGradients()
            filter.prepare(parameters: params)
            x.prepareGradient()
            conv.output.prepareGradient()
            conv.output.grad.pointer.update(from: dy.pointer, count: dy.count)
            if conv === plain { input.prepareGradient() }
            conv.backward(input, parameters: params, gradientGEMM: WeightGradientGEMM(precision: .fp32))
            filter.foldGradient(parameters: params)
            if conv === plain { bn.backward([x], parameters: params) } else { x.deferredTerms.apply(to: x) }
            return x.grad.array(count: x.count)
        }
        let dxFused = backward(fused, input: x)
        let gradFused = params.gradients!.array(count: params.count)
        let dxPlain = backward(plain, input: bn.outputs[0])
        let g = params.gradients!.pointer
        assertClose(dxFused, dxPlain, count: x.count, "dX")
        for (t, name) in [(latent, "dC"), (mfilter, "dM")] {
            gradFused.withUnsafeBufferPointer { assertClose($0.baseAddress! + t.offset, g + t.offset, count: t.count, name) }
        }
        gradFused.withUnsafeBufferPointer {
            assertClose($0.baseAddress! + fusedNorm.gamma.offset, g + bn.gamma.offset, count: c, "dγ")
            assertClose($0.baseAddress! + fusedNorm.beta.offset, g + bn.beta.offset, count: c, "dβ")
        }
    }
}
