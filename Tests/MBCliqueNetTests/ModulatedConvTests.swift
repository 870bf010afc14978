@testable import MBCliqueNet
import MBCore
import MBTestSupport
import XCTest

/// The factored modulated conv (spec section 8) against the naive route (build Q, convolve).
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
                s.conv.backward(s.x, parameters: s.params)
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
        s.conv.backward(s.x, parameters: s.params)
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

    /// The factored route does about 1/k of the naive arithmetic (spec section 8.3): its MAC count.
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
}
