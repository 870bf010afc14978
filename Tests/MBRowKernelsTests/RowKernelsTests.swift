import MBCore
import MBRowKernels
import XCTest

/// Every build of the row loops this CPU runs gives the portable build's bits, and the portable
/// build agrees with a Float64 loop, on rows below, at and past the 16-float vector (tails).
final class RowKernelsTests: XCTestCase {
    let counts = [1, 15, 16, 17, 49, 64, 1024]

    func row(_ n: Int, _ rng: inout SplitMix64) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }

    /// Each loop of `kernels` on fixed random rows, its outputs and results flattened in order.
    func outputs(_ kernels: RowKernels, count n: Int) -> [Float] {
        var rng = SplitMix64(seed: UInt64(n))
        let x = row(n, &rng), y = row(n, &rng), dy = row(n, &rng), dx0 = row(n, &rng)
        var out: [Float] = []
        for relu in [false, true] {
            var dst = [Float](repeating: 0, count: n)
            kernels.affine(x, &dst, n, 0.3, 1.7, -0.2, relu)
            out += dst
            let sums = kernels.reluGradientSums(dy, y, x, n, 0.3, relu)
            out += [sums.0, sums.1]
            var dx = dx0
            kernels.accumulateInputGradient(dy, y, x, &dx, n, 0.3, 0.9, -0.4, 0.05, relu)
            out += dx
        }
        var dx = dx0
        let masked = kernels.maskedGradient(dy, y, x, &dx, n, 0.3, 1.3)
        out += dx + [masked.0, masked.1, kernels.sum(x, n), kernels.squaredDeviation(x, n, 0.3)]
        dx = dx0
        kernels.addLinear(x, &dx, n, 0.3, -0.6, 0.1)
        out += dx
        // The modulated conv's loops, k = 3: nine tap rows and masks, M (3, 9).
        let k = 3
        let planes = row(9 * n, &rng), masks = (0..<9 * n).map { _ in Float(rng.next() % 2) }
        let m = row(9 * k, &rng), dyRows = row(k * n, &rng)
        var shifted = [Float](repeating: 0, count: k * n)
        var dg = [Float](repeating: 0, count: n), sums = [Float](repeating: 0.5, count: 16 * k)
        planes.withUnsafeBufferPointer { g in
            let taps = (0..<9).map { g.baseAddress! + $0 * n }
            taps.withUnsafeBufferPointer { kernels.shiftSum($0.baseAddress!, masks, n, m, k, &shifted) }
            out += shifted
            for t in [0, 4, 8] {
                masks.withUnsafeBufferPointer { mk in
                    m.withUnsafeBufferPointer { mp in
                        kernels.tapBackward(taps[t], mk.baseAddress! + t * n, mk.baseAddress! + (8 - t) * n, &dg, dyRows, dyRows,
                                            n, k, mp.baseAddress! + t, &sums)
                    }
                }
                out += dg
            }
        }
        return out + sums
    }

    func testEveryBuildGivesThePortableBits() {
        XCTAssertEqual(RowKernels.runnable.last?.name, "portable")
        XCTAssertEqual(RowKernels.forThisCPU.name, RowKernels.runnable.first?.name)
        for n in counts {
            let portable = outputs(.portable, count: n)
            for kernels in RowKernels.runnable.dropLast() {
                let wide = outputs(kernels, count: n)
                XCTAssertEqual(wide.map(\.bitPattern), portable.map(\.bitPattern), "\(kernels.name), \(n) floats")
            }
        }
    }

    func testThePortableBuildAgreesWithAFloat64Loop() {
        for n in counts {
            var rng = SplitMix64(seed: UInt64(n))
            let x = row(n, &rng), y = row(n, &rng), dy = row(n, &rng), dx0 = row(n, &rng)
            let k = RowKernels.portable
            let tolerance = 1e-5 * Double(n)
            var dst = [Float](repeating: 0, count: n)
            k.affine(x, &dst, n, 0.3, 1.7, -0.2, true)
            for i in 0..<n { XCTAssertEqual(Double(dst[i]), max((Double(x[i]) - 0.3) * 1.7 - 0.2, 0), accuracy: 1e-5) }
            var dx = dx0
            let (s1, s2) = k.maskedGradient(dy, y, x, &dx, n, 0.3, 1.3)
            var w1 = 0.0, w2 = 0.0
            for i in 0..<n {
                let dz = y[i] > 0 ? Double(dy[i]) : 0
                w1 += dz
                w2 += dz * (Double(x[i]) - 0.3)
                XCTAssertEqual(Double(dx[i]), Double(dx0[i]) + 1.3 * dz, accuracy: 1e-5)
            }
            XCTAssertEqual(Double(s1), w1, accuracy: tolerance)
            XCTAssertEqual(Double(s2), w2, accuracy: tolerance)
            let (r1, r2) = k.reluGradientSums(dy, y, x, n, 0.3, false)
            XCTAssertEqual(Double(r1), dy.reduce(0.0) { $0 + Double($1) }, accuracy: tolerance)
            XCTAssertEqual(Double(r2), (0..<n).reduce(0.0) { $0 + Double(dy[$1]) * (Double(x[$1]) - 0.3) }, accuracy: tolerance)
            dx = dx0
            k.accumulateInputGradient(dy, y, x, &dx, n, 0.3, 0.9, -0.4, 0.05, true)
            for i in 0..<n {
                let dz = y[i] > 0 ? Double(dy[i]) : 0
                XCTAssertEqual(Double(dx[i]), Double(dx0[i]) + 0.9 * dz - 0.4 * (Double(x[i]) - 0.3) + 0.05, accuracy: 1e-5)
            }
            XCTAssertEqual(Double(k.sum(x, n)), x.reduce(0.0) { $0 + Double($1) }, accuracy: tolerance)
            XCTAssertEqual(Double(k.squaredDeviation(x, n, 0.3)), x.reduce(0.0) { $0 + (Double($1) - 0.3) * (Double($1) - 0.3) },
                           accuracy: tolerance)
            dx = dx0
            k.addLinear(x, &dx, n, 0.3, -0.6, 0.1)
            for i in 0..<n { XCTAssertEqual(Double(dx[i]), Double(dx0[i]) - 0.6 * (Double(x[i]) - 0.3) + 0.1, accuracy: 1e-5) }
        }
    }
}
