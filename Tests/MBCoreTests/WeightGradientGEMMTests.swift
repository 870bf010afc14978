import CBF16
import MBCore
import MBTestSupport
import XCTest

/// The weight-gradient products against a naive route in Float64: fp32 in both of its
/// orientations (M ≥ N straight, M < N through the transposed sum), and the bf16 kernel with
/// inputs rounded to bfloat16 the way VCVTNE2PS2BF16 is specified to (Intel SDM: round to nearest
/// even, denormals to signed zero), on CPUs that have it.
final class WeightGradientGEMMTests: XCTestCase {
    /// The precisions this CPU runs: fp32 always.
    let precisions = GradientPrecision.allCases.filter(\.runsOnThisCPU)

    /// The SDM's conversion of one float to bfloat16 bits (NaN is not used here).
    static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isSubnormal || x == 0 { return UInt16(bits >> 16) & 0x8000 }
        if x.isInfinite { return UInt16(bits >> 16) }
        return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    static func bf16(_ x: Float) -> Double { Double(Float(bitPattern: UInt32(bf16Bits(x)) << 16)) }

    /// The packed bits equal the specified rounding, on ties both ways, values that round up into
    /// the next binade and to infinity, denormals, and random values, at every row length 1-70
    /// (the masked tail and the 32-float body).
    func testRoundingMatchesTheSpecifiedConversion() throws {
        guard GradientPrecision.bf16.runsOnThisCPU else { throw XCTSkip("this CPU has no AVX512-BF16") }
        var rng = SplitMix64(seed: 5)
        var values: [Float] = [1, -1, 0, -0.0, 1.0 / 3, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                               Float(bitPattern: 0xBF80_8000), Float(bitPattern: 0x3FFF_FFFF), Float(bitPattern: 0x7F7F_FFFF),
                               Float(bitPattern: 0x0000_0001), Float(bitPattern: 0x807F_FFFF), .leastNormalMagnitude,
                               .infinity, -.infinity, 65504, 1e-30]
        while values.count < 70 { values.append(Float(rng.normal() * 10)) }
        for count in 1...70 {
            var packed = [UInt16](repeating: 0xFFFF, count: 72)
            values.withUnsafeBufferPointer { src in
                packed.withUnsafeMutableBufferPointer { mbc_bf16_pack(src.baseAddress!, 0, 1, count, $0.baseAddress!, 0) }
            }
            for i in 0..<count {
                XCTAssertEqual(packed[i], Self.bf16Bits(values[i]), "value \(values[i]) (bits \(String(values[i].bitPattern, radix: 16))), row length \(count)")
            }
            XCTAssertEqual(packed[count], 0xFFFF, "row length \(count): wrote past the row")
        }
    }

    /// dW += Σ_i dY_i · X_iᵀ over images whose lengths cross block boundaries and are not
    /// multiples of 32, with M and N not multiples of 4 and row strides wider than the rows, into
    /// a dW that already holds values (and a column beyond N that must stay untouched).
    ///
    /// Tolerance: a float32 product of two floats errs by at most 2⁻²⁴ of itself, and the bfloat16
    /// products are exact in float32 (8 x 8 significant bits); float32 summation adds at most
    /// γ_d · Σ|terms| for any order, with γ_d ≈ d · 2⁻²⁴ and d the depth of the sum (Higham,
    /// Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 4.4); d ≤ K + 8 covers the
    /// lanes, the reduction, the blocks and the products.
    func testProductEqualsRoundedFloat64Product() {
        for precision in precisions {
            checkProduct(precision)
        }
    }

    private func checkProduct(_ precision: GradientPrecision) {
        let rounded: (Float) -> Double = precision == .bf16 ? Self.bf16 : { Double($0) }
        var rng = SplitMix64(seed: 9)
        for (m, n, lengths) in [(5, 7, [3, 40, 1]), (9, 6, [784, 784, 784]), (36, 21, [49, 1000, 2500, 33]), (4, 4, [32]),
                                (3, 40, [17, 64])] {
            let ld = lengths.max()! + 5, ldw = n + 1
            let dy = lengths.map { _ in Buffer(count: m * ld) }, x = lengths.map { _ in Buffer(count: n * ld) }
            for b in dy + x { fillNormal(b.pointer, count: b.count, rng: &rng) }
            let dw = Buffer(count: m * ldw)
            fillNormal(dw.pointer, count: dw.count, rng: &rng)
            var expected = (0..<m * ldw).map { Double(dw.pointer[$0]) }
            var bound = expected.map(abs)
            for (i, k) in lengths.enumerated() {
                for r in 0..<m {
                    for c in 0..<n {
                        for p in 0..<k {
                            let term = rounded(dy[i].pointer[r * ld + p]) * rounded(x[i].pointer[c * ld + p])
                            expected[r * ldw + c] += term
                            bound[r * ldw + c] += abs(term)
                        }
                    }
                }
            }
            let product = WeightGradientGEMM(precision: precision)
            for (i, k) in lengths.enumerated() {
                product.add(m: m, n: n, k: k, dy: dy[i].pointer, ldy: ld, x: x[i].pointer, ldx: ld, into: dw.pointer, ldw: ldw)
            }
            product.finish()
            let depth = Double(lengths.reduce(0, +) + 8)
            for r in 0..<m {
                for c in 0..<ldw {
                    let e = expected[r * ldw + c], got = Double(dw.pointer[r * ldw + c])
                    if c == n {
                        XCTAssertEqual(got, e, "\(precision) M=\(m) N=\(n): the column past dW changed")
                    } else {
                        XCTAssertEqual(got, e, accuracy: depth * 0x1p-24 * bound[r * ldw + c], "\(precision) M=\(m) N=\(n) K=\(lengths) dW[\(r)][\(c)]")
                    }
                }
            }
        }
    }

    /// Two products one after the other on the same instance, the second for another dW without
    /// a `finish` between: the first is completed before the second starts, as layers use it.
    func testAnotherTargetFinishesThePendingProduct() {
        for precision in precisions {
            for (m, n) in [(6, 5), (5, 6)] {
                var rng = SplitMix64(seed: 4)
                let k = 100
                let dy = Buffer(count: m * k), x = Buffer(count: n * k)
                fillNormal(dy.pointer, count: dy.count, rng: &rng)
                fillNormal(x.pointer, count: x.count, rng: &rng)
                let first = Buffer(count: m * n), second = Buffer(count: m * n), alone = Buffer(count: m * n)
                let shared = WeightGradientGEMM(precision: precision)
                shared.add(m: m, n: n, k: k, dy: dy.pointer, ldy: k, x: x.pointer, ldx: k, into: first.pointer, ldw: n)
                shared.add(m: m, n: n, k: k, dy: dy.pointer, ldy: k, x: x.pointer, ldx: k, into: second.pointer, ldw: n)
                shared.finish()
                let single = WeightGradientGEMM(precision: precision)
                single.add(m: m, n: n, k: k, dy: dy.pointer, ldy: k, x: x.pointer, ldx: k, into: alone.pointer, ldw: n)
                single.finish()
                XCTAssertEqual(first.array(), alone.array(), "\(precision) M=\(m) N=\(n)")
                XCTAssertEqual(second.array(), alone.array(), "\(precision) M=\(m) N=\(n)")
                XCTAssertNotEqual(alone.array(), Array(repeating: 0, count: m * n), "\(precision) M=\(m) N=\(n): nothing was added")
            }
        }
    }
}
