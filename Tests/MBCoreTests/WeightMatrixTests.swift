import MBCore
import MBTestSupport
import XCTest

/// Both products of a `WeightMatrix` against a naive Float64 triple loop: a binary matrix on
/// every lookup-table build this CPU runs (row and column counts that leave partial sign groups,
/// partial row blocks and partial 16-column tiles, strided X and Y, alpha, accumulation) and on
/// the OpenBLAS path.
final class WeightMatrixTests: XCTestCase {
    func testBinaryProductsEqualNaiveSums() throws {
        try XCTSkipUnless(WeightMatrix.lookupTablesAvailable, "this CPU does not run the lookup-table kernels")
        for kernels in SignTableKernels.runnable { check(lookupTables: kernels) }
    }

    func testOpenBLASProductsEqualNaiveSums() {
        check(lookupTables: nil)
    }

    /// A forward-only matrix read from a sign function (a deployed model's packed bits): every
    /// product, also narrower than a 16-column tile, equals the naive sum, on tables and on OpenBLAS.
    func testForwardOnlySignMatrixEqualsNaiveSums() {
        var rng = SplitMix64(seed: 9)
        let rows = 13, columns = 33
        let signs = (0..<rows * columns).map { _ in rng.uniform() < 0.5 }
        for tables in [nil] + SignTableKernels.runnable {
            let w = WeightMatrix(rows: rows, columns: columns, signs: { signs[$0 * columns + $1] }, lookupTables: tables)
            for n in [1, 5, 16, 37] {
                let x = Buffer(count: columns * n), y = Buffer(count: rows * n)
                fillNormal(x.pointer, count: x.count, rng: &rng)
                w.multiply(x.pointer, ldx: n, count: n, alpha: 0.5, into: y.pointer, ldy: n)
                for r in 0..<rows {
                    for p in 0..<n {
                        let sum = (0..<columns).reduce(0.0) { $0 + (signs[r * columns + $1] ? 1 : -1) * Double(x.pointer[$1 * n + p]) }
                        XCTAssertEqual(Double(y.pointer[r * n + p]), 0.5 * sum, accuracy: 1e-5 * Double(columns),
                                       "tables \(tables.map(\.rawValue) ?? "off") n=\(n) at (\(r), \(p))")
                    }
                }
            }
        }
    }

    /// `MBC_SIGN_TABLES` picks a build only the CPU runs; anything else keeps the best, saying why.
    func testTheVariableChoosesOnlyABuildTheCPURuns() {
        let both: [SignTableKernels] = [.avx512, .avx2]
        XCTAssertTrue(SignTableKernels.choice(requested: nil, runnable: both) == (.avx512, "avx512"))
        XCTAssertTrue(SignTableKernels.choice(requested: "", runnable: [.avx2]) == (.avx2, "avx2"))
        XCTAssertTrue(SignTableKernels.choice(requested: "AVX2", runnable: both) == (.avx2, "avx2 (MBC_SIGN_TABLES)"))
        XCTAssertTrue(SignTableKernels.choice(requested: "off", runnable: both) == (nil, "off (MBC_SIGN_TABLES)"))
        XCTAssertTrue(SignTableKernels.choice(requested: "avx512", runnable: [.avx2])
                      == (.avx2, "avx2 (MBC_SIGN_TABLES=avx512: this CPU does not run it)"))
        XCTAssertTrue(SignTableKernels.choice(requested: "sse", runnable: [])
                      == (nil, "off (no AVX2: OpenBLAS) (MBC_SIGN_TABLES=sse is none of avx2, avx512, off)"))
    }

    /// Layers keep their encoded weights while `WeightSource.version` stays the same, so a version
    /// names one state of one source: two sources differ, and each refresh gives a new one.
    func testWeightSourceVersionsNameOneStateOfOneSource() {
        let params = TensorStore(withGradients: false)
        let w = params.declare("w", shape: [2, 3], group: "t", binary: true)
        params.allocate()
        params.value(w).update(from: [0.5, -1, 2, -0.25, 0, 3], count: 6)
        let a = WeightSource(parameters: params), b = WeightSource(parameters: params)
        var seen: Set = [a.version, b.version]
        XCTAssertEqual(seen.count, 2, "two new sources")
        for _ in 0..<3 {
            a.refreshSigns()
            b.refreshSigns()
            XCTAssertTrue(seen.insert(a.version).inserted && seen.insert(b.version).inserted, "a refresh reused a version")
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.forwardWeight(w, binary: true), count: 6)), [1, -1, 1, -1, 1, 1])
    }

    private func check(lookupTables: SignTableKernels?) {
        var rng = SplitMix64(seed: 5)
        let shapes = [(rows: 7, columns: 10), (rows: 4, columns: 4), (rows: 13, columns: 33), (rows: 1, columns: 3)]
        for (rows, columns) in shapes {
            let w = WeightMatrix(rows: rows, columns: columns, binary: true, lookupTables: lookupTables)
            // Twice: the second signs must reach both products (Wᵀ's tables are encoded lazily).
            for _ in 0..<2 {
                for i in 0..<rows * columns { w.values.pointer[i] = rng.uniform() < 0.5 ? -1 : 1 }
                w.valuesChanged()
                for n in [16, 20, 37, 64] {
                    for accumulate in [false, true] {
                        for transposed in [false, true] {
                            let inner = transposed ? rows : columns, outer = transposed ? columns : rows
                            let ldx = n + 3, ldy = n + 5, alpha: Float = 0.37
                            let x = Buffer(count: inner * ldx), y = Buffer(count: outer * ldy)
                            fillNormal(x.pointer, count: x.count, rng: &rng)
                            fillNormal(y.pointer, count: y.count, rng: &rng)
                            let before = y.array()
                            if transposed {
                                w.multiplyTransposed(x.pointer, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y.pointer, ldy: ldy)
                            } else {
                                w.multiply(x.pointer, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y.pointer, ldy: ldy)
                            }
                            for r in 0..<outer {
                                for p in 0..<ldy {
                                    let got = y.pointer[r * ldy + p]
                                    guard p < n else {
                                        XCTAssertEqual(got, before[r * ldy + p], "a column past n was written")
                                        continue
                                    }
                                    var sum = 0.0
                                    for c in 0..<inner {
                                        let s = transposed ? w.values.pointer[c * columns + r] : w.values.pointer[r * columns + c]
                                        sum += Double(s) * Double(x.pointer[c * ldx + p])
                                    }
                                    let want = Double(alpha) * sum + (accumulate ? Double(before[r * ldy + p]) : 0)
                                    XCTAssertEqual(Double(got), want, accuracy: 1e-5 * Double(inner + 1),
                                                   "\(lookupTables.map(\.rawValue) ?? "OpenBLAS") \(rows)x\(columns) n=\(n) transposed=\(transposed) accumulate=\(accumulate) at (\(r), \(p))")
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

