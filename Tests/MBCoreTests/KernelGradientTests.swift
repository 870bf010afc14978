import MBBase
import MBCore
import MBTestSupport
import XCTest

/// Every smooth kernel against central finite differences (Float32 forward, loss summed in
/// Double). With inputs of size ~1 and step h = 1e-2, the truncation error is O(h²) ~ 1e-4
/// relative and the rounding error of a Float32 forward is ~1e-7·|L|/h ~ 1e-4 absolute, so the
/// tolerance is 1e-2 relative with an absolute floor of 1e-2. A wrong term fails by far more.
final class KernelGradientTests: XCTestCase {
    let tolerance = 1e-2
    let floor = 1e-2

    func assertGradient(_ name: String, values: UnsafeMutablePointer<Float>, analytic: UnsafePointer<Float>, count: Int,
                        step: Float = 1e-2, rng: inout SplitMix64, reluPattern: (() -> Int)? = nil, loss: () -> Double,
                        file: StaticString = #filePath, line: UInt = #line) {
        let r = checkGradient(values: values, analytic: analytic, indices: sampleIndices(count: count, limit: 60, rng: &rng),
                              step: step, floor: floor, reluPattern: reluPattern, loss: loss)
        XCTAssertLessThan(r.worst, tolerance, "\(name): \(r)", file: file, line: line)
        // Kinks may exclude some elements, never most of them.
        XCTAssertGreaterThanOrEqual(r.checked, max(2, (r.checked + r.skippedAtKinks) / 3), "\(name): too few checked: \(r)",
                                    file: file, line: line)
    }

    func testConv3x3MatchesLoopReferenceAndFiniteDifferences() {
        var rng = SplitMix64(seed: 1)
        let (n, c, o, h, w) = (2, 3, 4, 5, 6)
        let x = randomActivation(n: n, c: c, h: h, w: w, rng: &rng)
        let y = Activation(channels: o, height: h, width: w)
        let weight = Buffer(count: o * c * 9)
        fillNormal(weight.pointer, count: weight.count, std: 0.3, rng: &rng)
        let conv = Conv3x3(inChannels: c, outChannels: o)
        let alpha: Float = 0.7
        conv.forward(x, weight: weight.pointer, alpha: alpha, into: y)
        // Loop reference.
        for img in 0..<n { for oc in 0..<o { for yy in 0..<h { for xx in 0..<w {
            var s = 0.0
            for ic in 0..<c { for t in 0..<9 {
                let sy = yy + t / 3 - 1, sx = xx + t % 3 - 1
                if sy < 0 || sy >= h || sx < 0 || sx >= w { continue }
                s += Double(weight.pointer[(oc * c + ic) * 9 + t]) * Double(x.value.pointer[((img * c + ic) * h + sy) * w + sx])
            } }
            XCTAssertEqual(Double(y.value.pointer[((img * o + oc) * h + yy) * w + xx]), Double(alpha) * s, accuracy: 1e-4)
        } } } }

        let r = Buffer(count: y.count)
        fillNormal(r.pointer, count: r.count, rng: &rng)
        y.prepareGradient()
        y.grad.pointer.update(from: r.pointer, count: r.count)
        x.prepareGradient()
        let dw = Buffer(count: weight.count)
        conv.backward(x, weight: weight.pointer, alpha: alpha, output: y, weightGradient: dw.pointer, inputGradient: true)
        let loss = { () -> Double in conv.forward(x, weight: weight.pointer, alpha: alpha, into: y); return dot(y.value.pointer, r.pointer, count: y.count) }
        assertGradient("dX", values: x.value.pointer, analytic: x.grad.pointer, count: x.count, rng: &rng, loss: loss)
        // dW is the gradient for the effective weight alpha·W (no factor alpha): scale to compare.
        for i in 0..<dw.count { dw.pointer[i] *= alpha }
        assertGradient("dW", values: weight.pointer, analytic: dw.pointer, count: weight.count, rng: &rng, loss: loss)
    }

    func testConv1x1OverPartsEqualsOneConvOverTheConcatenation() {
        var rng = SplitMix64(seed: 2)
        let params = TensorStore(withGradients: true)
        let w1 = params.declare("a", shape: [4, 3], group: "t")
        let w2 = params.declare("b", shape: [4, 2], group: "t")
        let whole = params.declare("c", shape: [4, 5], group: "t")
        params.allocate()
        fillNormal(params.values.pointer, count: params.count, rng: &rng)
        let source = WeightSource(parameters: params)
        // The split tensor holds [w1 | w2] by columns.
        for r in 0..<4 {
            for col in 0..<3 { params.value(whole)[r * 5 + col] = params.value(w1)[r * 3 + col] }
            for col in 0..<2 { params.value(whole)[r * 5 + 3 + col] = params.value(w2)[r * 2 + col] }
        }
        let a = randomActivation(n: 2, c: 3, h: 3, w: 4, rng: &rng)
        let b = randomActivation(n: 2, c: 2, h: 3, w: 4, rng: &rng)
        let separate = Conv1x1(weights: [w1, w2], partChannels: [3, 2], outChannels: 4, alpha: 1.5, binary: false, height: 3, width: 4)
        let split = Conv1x1(weight: whole, partChannels: [3, 2], outChannels: 4, alpha: 1.5, binary: false, height: 3, width: 4)
        separate.forward([a, b], weights: source)
        split.forward([a, b], weights: source)
        for img in 0..<2 { for o in 0..<4 { for p in 0..<12 {
            var s = 0.0
            for ch in 0..<3 { s += Double(params.value(w1)[o * 3 + ch]) * Double(a.value.pointer[(img * 3 + ch) * 12 + p]) }
            for ch in 0..<2 { s += Double(params.value(w2)[o * 2 + ch]) * Double(b.value.pointer[(img * 2 + ch) * 12 + p]) }
            XCTAssertEqual(Double(separate.output.value.pointer[(img * 4 + o) * 12 + p]), 1.5 * s, accuracy: 1e-4)
            XCTAssertEqual(separate.output.value.pointer[(img * 4 + o) * 12 + p], split.output.value.pointer[(img * 4 + o) * 12 + p], accuracy: 1e-5)
        } } }
        // Backward: finite differences on both parts' inputs and weights.
        let r = Buffer(count: separate.output.count)
        fillNormal(r.pointer, count: r.count, rng: &rng)
        for conv in [separate, split] {
            params.zeroGradients()
            a.prepareGradient(); b.prepareGradient(); conv.output.prepareGradient()
            conv.output.grad.pointer.update(from: r.pointer, count: r.count)
            conv.backward([a, b], weights: source)
            let loss = { () -> Double in conv.forward([a, b], weights: source); return dot(conv.output.value.pointer, r.pointer, count: r.count) }
            assertGradient("dA", values: a.value.pointer, analytic: a.grad.pointer, count: a.count, rng: &rng, loss: loss)
            assertGradient("dB", values: b.value.pointer, analytic: b.grad.pointer, count: b.count, rng: &rng, loss: loss)
            // alpha = 1.5 scales the effective weight; the latent gradient omits it only for binary
            // weights, so here (float weights, alpha folded in the forward) compare against alpha·dW.
            let t = conv === separate ? [w1, w2] : [whole]
            for ref in t {
                let g = Buffer(count: ref.count)
                for i in 0..<ref.count { g.pointer[i] = params.gradient(ref)[i] * 1.5 }
                assertGradient("dW", values: params.value(ref), analytic: g.pointer, count: ref.count, rng: &rng, loss: loss)
            }
        }
        // Spatial size 1 takes the one-GEMM path; check it too.
        let v = randomActivation(n: 3, c: 5, h: 1, w: 1, rng: &rng)
        let fc = Conv1x1(weight: whole, partChannels: [5], outChannels: 4, alpha: 1, binary: false, height: 1, width: 1)
        fc.forward([v], weights: source)
        for img in 0..<3 { for o in 0..<4 {
            var s = 0.0
            for ch in 0..<5 { s += Double(params.value(whole)[o * 5 + ch]) * Double(v.value.pointer[img * 5 + ch]) }
            XCTAssertEqual(Double(fc.output.value.pointer[img * 4 + o]), s, accuracy: 1e-4)
        } }
        let rv = Buffer(count: fc.output.count)
        fillNormal(rv.pointer, count: rv.count, rng: &rng)
        params.zeroGradients(); v.prepareGradient(); fc.output.prepareGradient()
        fc.output.grad.pointer.update(from: rv.pointer, count: rv.count)
        fc.backward([v], weights: source)
        let loss = { () -> Double in fc.forward([v], weights: source); return dot(fc.output.value.pointer, rv.pointer, count: rv.count) }
        assertGradient("dV", values: v.value.pointer, analytic: v.grad.pointer, count: v.count, rng: &rng, loss: loss)
        assertGradient("dW fc", values: params.value(whole), analytic: params.gradient(whole), count: whole.count, rng: &rng, loss: loss)
    }

    func testBatchNormReLUOverPartsFiniteDifferencesAndStatistics() {
        var rng = SplitMix64(seed: 3)
        for relu in [false, true] {
            let params = TensorStore(withGradients: true), state = TensorStore(withGradients: false)
            let bn = BatchNorm(name: "bn", partChannels: [2, 3], height: 3, width: 3, relu: relu, parameters: params, state: state)
            params.allocate(); state.allocate()
            bn.initialize(parameters: params, state: state)
            fillNormal(params.value(bn.gamma), count: 5, rng: &rng)
            fillNormal(params.value(bn.beta), count: 5, std: 0.5, rng: &rng)
            let a = randomActivation(n: 4, c: 2, h: 3, w: 3, rng: &rng)
            let b = randomActivation(n: 4, c: 3, h: 3, w: 3, rng: &rng)
            for i in 0..<b.count { b.value.pointer[i] = b.value.pointer[i] * 2 + 1 }
            for x in [a, b] { x.statistics.compute(x) }
            bn.forward([a, b], parameters: params, state: state, training: true)
            // Running statistics after one step: 0.9·(0, 1) + 0.1·(batch mean, unbiased variance).
            let m = 4 * 9
            for ch in 0..<3 {
                var vals: [Double] = []
                for img in 0..<4 { for p in 0..<9 { vals.append(Double(b.value.pointer[(img * 3 + ch) * 9 + p])) } }
                let mean = vals.reduce(0, +) / Double(m)
                let unbiased = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(m - 1)
                XCTAssertEqual(Double(state.value(bn.runningMean)[2 + ch]), 0.1 * mean, accuracy: 1e-5)
                XCTAssertEqual(Double(state.value(bn.runningVar)[2 + ch]), 0.9 + 0.1 * unbiased, accuracy: 1e-5)
            }
            let r = [Buffer(count: a.count), Buffer(count: b.count)]
            for buf in r { fillNormal(buf.pointer, count: buf.count, rng: &rng) }
            params.zeroGradients(); a.prepareGradient(); b.prepareGradient()
            for (o, buf) in zip(bn.outputs, r) { o.prepareGradient(); o.grad.pointer.update(from: buf.pointer, count: buf.count) }
            bn.backward([a, b], parameters: params)
            let loss = { () -> Double in
                for x in [a, b] { x.statistics.compute(x) }   // the inputs changed
                bn.forward([a, b], parameters: params, state: state, training: true)
                return zip(bn.outputs, r).map { dot($0.value.pointer, $1.pointer, count: $1.count) }.reduce(0, +)
            }
            let pattern = { () -> Int in
                var hash = FNV1a()
                for o in bn.outputs { positivePattern(o.value.pointer, count: o.count, into: &hash) }
                return Int(truncatingIfNeeded: hash.value)
            }
            assertGradient("dA relu=\(relu)", values: a.value.pointer, analytic: a.grad.pointer, count: a.count, rng: &rng, reluPattern: pattern, loss: loss)
            assertGradient("dB relu=\(relu)", values: b.value.pointer, analytic: b.grad.pointer, count: b.count, rng: &rng, reluPattern: pattern, loss: loss)
            assertGradient("dγ", values: params.value(bn.gamma), analytic: params.gradient(bn.gamma), count: 5, rng: &rng, reluPattern: pattern, loss: loss)
            assertGradient("dβ", values: params.value(bn.beta), analytic: params.gradient(bn.beta), count: 5, rng: &rng, reluPattern: pattern, loss: loss)
            // Evaluation uses the running statistics: y = γ (x − μ_r)/sqrt(σ²_r + eps) + β.
            bn.forward([a, b], parameters: params, state: state, training: false)
            let x = b.value.pointer[7], ch = 0
            var expected = params.value(bn.gamma)[2 + ch] * (x - state.value(bn.runningMean)[2 + ch])
                / (state.value(bn.runningVar)[2 + ch] + 1e-5).squareRoot() + params.value(bn.beta)[2 + ch]
            if relu { expected = max(expected, 0) }
            XCTAssertEqual(bn.outputs[1].value.pointer[7], expected, accuracy: 1e-5)
        }
    }

    func testPoolingFiniteDifferences() {
        var rng = SplitMix64(seed: 4)
        let x = randomActivation(n: 2, c: 3, h: 4, w: 6, rng: &rng)
        let pool = AveragePool2x2(channels: 3, inputHeight: 4, inputWidth: 6)
        pool.forward(x)
        XCTAssertEqual(pool.output.value.pointer[0],
                       0.25 * (x.value.pointer[0] + x.value.pointer[1] + x.value.pointer[6] + x.value.pointer[7]), accuracy: 1e-6)
        let r = Buffer(count: pool.output.count)
        fillNormal(r.pointer, count: r.count, rng: &rng)
        x.prepareGradient(); pool.output.prepareGradient()
        pool.output.grad.pointer.update(from: r.pointer, count: r.count)
        pool.backward(x)
        assertGradient("avgpool dX", values: x.value.pointer, analytic: x.grad.pointer, count: x.count, rng: &rng) {
            pool.forward(x); return dot(pool.output.value.pointer, r.pointer, count: r.count)
        }
        // Global average pooling into channels 2..<5 of a (N, 6, 1, 1) feature.
        let features = Activation(channels: 6, height: 1, width: 1)
        features.resize(batch: 2)
        let gap = GlobalAveragePool(channelOffset: 2)
        gap.forward(x, into: features)
        var s: Float = 0
        for p in 0..<24 { s += x.value.pointer[24 + p] }   // image 0, channel 1
        XCTAssertEqual(features.value.pointer[3], s / 24, accuracy: 1e-5)
        let rg = Buffer(count: 12)
        fillNormal(rg.pointer, count: 12, rng: &rng)
        x.prepareGradient(); features.prepareGradient()
        features.grad.pointer.update(from: rg.pointer, count: 12)
        gap.backward(x, output: features)
        assertGradient("gap dX", values: x.value.pointer, analytic: x.grad.pointer, count: x.count, rng: &rng) {
            gap.forward(x, into: features); return dot(features.value.pointer, rg.pointer, count: 12)
        }
    }

    func testSoftmaxCrossEntropyGradientAndCounts() {
        var rng = SplitMix64(seed: 5)
        let (n, k) = (4, 7)
        let logits = Buffer(count: n * k)
        fillNormal(logits.pointer, count: n * k, std: 2, rng: &rng)
        var labels: [Int32] = [0, 3, 6, 2]
        let ce = SoftmaxCrossEntropy(classes: k)
        let result = labels.withUnsafeBufferPointer { ce.evaluate(logits: logits.pointer, labels: $0.baseAddress!, count: n, gradient: true) }
        // Independent loss and ranks.
        var expected = 0.0, top1 = 0, top5 = 0
        for i in 0..<n {
            let z = (0..<k).map { Double(logits.pointer[i * k + $0]) }
            expected += log(z.map { exp($0) }.reduce(0, +)) - z[Int(labels[i])]
            let rank = z.filter { $0 > z[Int(labels[i])] }.count
            if rank == 0 { top1 += 1 }
            if rank < 5 { top5 += 1 }
        }
        XCTAssertEqual(result.loss, expected / Double(n), accuracy: 1e-5)
        XCTAssertEqual(result.top1, top1)
        XCTAssertEqual(result.top5, top5)
        let analytic = Buffer(count: n * k)
        analytic.pointer.update(from: ce.logitGradient.pointer, count: n * k)
        assertGradient("dlogits", values: logits.pointer, analytic: analytic.pointer, count: n * k, rng: &rng) {
            labels.withUnsafeMutableBufferPointer { ce.evaluate(logits: logits.pointer, labels: $0.baseAddress!, count: n, gradient: false).loss }
        }
    }

    /// sign is not differentiable: the straight-through estimator is checked analytically. A
    /// binarized conv's latent gradient must equal the gradient of the same conv run in float with
    /// the effective weight s·sign(W) (identity STE, no factor s), and the clipped STE must cancel
    /// it exactly where |W| > 1.
    func testStraightThroughEstimator() {
        var rng = SplitMix64(seed: 6)
        let params = TensorStore(withGradients: true)
        let latent = params.declare("w", shape: [3, 4], group: "t", binary: true)
        let effective = params.declare("e", shape: [3, 4], group: "t")
        params.allocate()
        fillNormal(params.value(latent), count: 12, std: 1.2, rng: &rng)
        params.value(latent)[5] = 0   // sign(0) = +1
        let source = WeightSource(parameters: params)
        source.refreshSigns()
        let s: Float = (2.0 / 4.0).squareRoot()
        for i in 0..<12 {
            let v = params.value(latent)[i]
            XCTAssertEqual(source.forwardWeight(latent, binary: true)[i], v >= 0 ? 1 : -1)
            params.value(effective)[i] = s * (v >= 0 ? 1 : -1)
        }
        let x = randomActivation(n: 2, c: 4, h: 2, w: 2, rng: &rng)
        let binaryConv = Conv1x1(weights: [latent], partChannels: [4], outChannels: 3, alpha: s, binary: true, height: 2, width: 2)
        let floatConv = Conv1x1(weights: [effective], partChannels: [4], outChannels: 3, alpha: 1, binary: false, height: 2, width: 2)
        binaryConv.forward([x], weights: source)
        floatConv.forward([x], weights: source)
        for i in 0..<binaryConv.output.count {
            XCTAssertEqual(binaryConv.output.value.pointer[i], floatConv.output.value.pointer[i], accuracy: 1e-5)
        }
        let r = Buffer(count: binaryConv.output.count)
        fillNormal(r.pointer, count: r.count, rng: &rng)
        for conv in [binaryConv, floatConv] {
            conv.output.prepareGradient()
            conv.output.grad.pointer.update(from: r.pointer, count: r.count)
            x.prepareGradient()
            conv.backward([x], weights: source)
        }
        for i in 0..<12 {
            XCTAssertEqual(params.gradient(latent)[i], params.gradient(effective)[i], accuracy: 1e-5)
        }
        applyClippedSTE(latent: params.value(latent), gradient: params.gradient(latent), count: 12)
        var cancelled = 0
        for i in 0..<12 {
            if abs(params.value(latent)[i]) > 1 {
                XCTAssertEqual(params.gradient(latent)[i], 0); cancelled += 1
            } else {
                XCTAssertEqual(params.gradient(latent)[i], params.gradient(effective)[i], accuracy: 1e-5)
            }
        }
        XCTAssertGreaterThan(cancelled, 0, "the draw should put some weights beyond ±1")
    }
}
