import MBCore
import MBSignGEMM
import MBSignGEMM512
import XCTest

/// `SignMatrix` on its own, in each build this CPU runs (MBSignGEMM's AVX2, MBSignGEMM512's
/// AVX-512), against a naive triple loop. With small integers in X and a power of two for alpha
/// every partial sum is exact in float32, so the products must equal the naive sums exactly,
/// whatever order the tables add in: a wrong table entry, sign code, group or tile offset shows
/// as a wrong integer, not as rounding.
final class SignMatrixTests: XCTestCase {
    typealias Product = (SignMatrix) -> (UnsafePointer<Float>, Int, Int, Float, Bool, UnsafeMutablePointer<Float>, Int) -> Void

    /// The builds this CPU runs; on others their code must not run at all.
    var products: [(SignTableKernels, Product)] {
        SignTableKernels.runnable.map { kernels in
            switch kernels {
            case .avx2: (kernels, { m in { m.multiply($0, ldx: $1, count: $2, alpha: $3, accumulate: $4, into: $5, ldy: $6) } })
            case .avx512: (kernels, { m in { m.multiplyAVX512($0, ldx: $1, count: $2, alpha: $3, accumulate: $4, into: $5, ldy: $6) } })
            }
        }
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(WeightMatrix.lookupTablesAvailable, "this CPU does not run the lookup-table kernels")
    }

    /// Every shape class the kernel distinguishes: K not a multiple of 4 (a partial sign group),
    /// M not a multiple of 4 (the one-row tail), n below, at and past a 16-column tile, with row
    /// strides wider than n; Y's columns past n must stay untouched.
    func testProductsEqualTheNaiveSumsExactly() {
        for (kernels, product) in products { checkProducts(kernels, product) }
    }

    func checkProducts(_ kernels: SignTableKernels, _ product: Product) {
        var stream = SplitMix64(seed: 1)
        for (rows, columns) in [(1, 1), (1, 3), (4, 4), (5, 7), (7, 10), (13, 33), (64, 72)] {
            let signs = (0..<rows * columns).map { _ in stream.sign() }
            let matrix = SignMatrix(rows: rows, columns: columns)
            matrix.encode { signs[$0 * columns + $1] }
            for n in [1, 7, 16, 17, 40] {
                for accumulate in [false, true] {
                    let ldx = n + 2, ldy = n + 3, alpha: Float = 0.25
                    let x = (0..<columns * ldx).map { _ in stream.integer() }
                    var y = (0..<rows * ldy).map { _ in stream.integer() }
                    let before = y
                    y.withUnsafeMutableBufferPointer { out in
                        product(matrix)(x, ldx, n, alpha, accumulate, out.baseAddress!, ldy)
                    }
                    for r in 0..<rows {
                        for p in 0..<ldy {
                            guard p < n else {
                                XCTAssertEqual(y[r * ldy + p], before[r * ldy + p], "\(kernels): column \(p) past n=\(n) was written")
                                continue
                            }
                            var sum: Float = 0
                            for c in 0..<columns { sum += (signs[r * columns + c] ? 1 : -1) * x[c * ldx + p] }
                            let want = alpha * sum + (accumulate ? before[r * ldy + p] : 0)
                            XCTAssertEqual(y[r * ldy + p], want, "\(kernels) \(rows)x\(columns) n=\(n) accumulate=\(accumulate) at (\(r), \(p))")
                        }
                    }
                }
            }
        }
    }

    /// Encoding from float values reads S (entry > 0 is +1, zero and below −1) and, with the strides
    /// swapped, Sᵀ; encoding again replaces the previous signs entirely.
    func testEncodingFromValuesReadsTheMatrixAndItsTranspose() {
        for (kernels, product) in products { checkEncoding(kernels, product) }
    }

    func checkEncoding(_ kernels: SignTableKernels, _ product: Product) {
        var stream = SplitMix64(seed: 2)
        let rows = 6, columns = 9, n = 5
        let values = (0..<rows * columns).map { _ in stream.integer() }   // zeros included
        let x = (0..<max(rows, columns) * n).map { _ in stream.integer() }
        for transposed in [false, true] {
            let outer = transposed ? columns : rows, inner = transposed ? rows : columns
            let matrix = SignMatrix(rows: outer, columns: inner)
            matrix.encode { _, _ in true }   // overwritten below
            values.withUnsafeBufferPointer { v in
                matrix.encode(v.baseAddress!, rowStride: transposed ? 1 : columns, columnStride: transposed ? columns : 1)
            }
            var y = [Float](repeating: 0, count: outer * n)
            y.withUnsafeMutableBufferPointer { out in
                product(matrix)(x, n, n, 1, false, out.baseAddress!, n)
            }
            for r in 0..<outer {
                for p in 0..<n {
                    var sum: Float = 0
                    for c in 0..<inner {
                        let value = transposed ? values[c * columns + r] : values[r * columns + c]
                        sum += (value > 0 ? 1 : -1) * x[c * n + p]
                    }
                    XCTAssertEqual(y[r * n + p], sum, "\(kernels) transposed=\(transposed) at (\(r), \(p))")
                }
            }
        }
    }
}

/// Small integers in -8...8 (exact in float32 sums) and signs, from MBCore's generator.
extension SplitMix64 {
    mutating func integer() -> Float { Float(Int(next() % 17) - 8) }
    mutating func sign() -> Bool { next() & 1 == 1 }
}
