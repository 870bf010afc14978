import CSystem
import MBSignGEMM

/// A row-major weight matrix W (rows × columns) with its two products, `alpha·W·X` and
/// `alpha·Wᵀ·X`. When W is binary (every entry ±1) and the CPU runs Haswell code, the products
/// use sign lookup tables (`MBSignGEMM.SignMatrix`, additions only; BENCHMARKS.md, "Sign lookup
/// tables against sgemm", compares them with OpenBLAS); otherwise, and for fewer than 16 columns of X, OpenBLAS sgemm on the floats.
public final class WeightMatrix {
    /// Whether this CPU can run the lookup-table kernels (built for AVX2, FMA and BMI2).
    public static let lookupTablesAvailable = mbc_cpu_runs_haswell_code() != 0

    public let rows: Int
    public let columns: Int
    public let values: Buffer                  // (rows, columns); empty for a forward-only sign matrix on tables
    private let signs: SignMatrix?             // W, when binary
    private let transposedSigns: SignMatrix?   // Wᵀ, when binary and trained
    /// False for a forward-only matrix built from signs on lookup tables: no float copy exists.
    private let hasValues: Bool

    /// `lookupTables: false` keeps a binary matrix on the OpenBLAS path (the tests' reference).
    public init(rows: Int, columns: Int, binary: Bool, lookupTables: Bool = WeightMatrix.lookupTablesAvailable) {
        self.rows = rows
        self.columns = columns
        values = Buffer(count: rows * columns)
        hasValues = true
        let tables = binary && lookupTables
        signs = tables ? SignMatrix(rows: rows, columns: columns) : nil
        transposedSigns = tables ? SignMatrix(rows: columns, columns: rows) : nil
    }

    /// A forward-only ±1 matrix read from `isPositive(row, column)` (a deployed model's packed
    /// bits): on lookup tables every product, however narrow, runs from the signs and no float
    /// matrix is made; without them the ±1 floats are expanded for OpenBLAS.
    public init(rows: Int, columns: Int, signs isPositive: (_ row: Int, _ column: Int) -> Bool,
                lookupTables: Bool = WeightMatrix.lookupTablesAvailable) {
        self.rows = rows
        self.columns = columns
        transposedSigns = nil
        hasValues = !lookupTables
        if lookupTables {
            values = Buffer()
            let s = SignMatrix(rows: rows, columns: columns)
            s.encode(isPositive)
            signs = s
        } else {
            values = Buffer(count: rows * columns)
            for r in 0..<rows {
                for c in 0..<columns { values.pointer[r * columns + c] = isPositive(r, c) ? 1 : -1 }
            }
            signs = nil
        }
    }

    /// Call after writing `values`: re-reads the signs of a binary matrix.
    public func valuesChanged() {
        guard let signs, let transposedSigns else { return }
        assert(values.array(count: rows * columns).allSatisfy { $0 == 1 || $0 == -1 }, "a binary weight matrix holds ±1 only")
        signs.encode(values.pointer, rowStride: columns, columnStride: 1)
        transposedSigns.encode(values.pointer, rowStride: 1, columnStride: columns)
    }

    /// `Y = alpha·W·X` (`+= ` when `accumulate`), X (columns × n) with row stride `ldx`, Y (rows × n).
    public func multiply(_ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float = 1, accumulate: Bool = false,
                         into y: UnsafeMutablePointer<Float>, ldy: Int) {
        if let signs, n >= SignMatrix.tileWidth || !hasValues {
            signs.multiply(x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
        } else {
            gemm(m: rows, n: n, k: columns, alpha: alpha, a: values.pointer, lda: columns, b: x, ldb: ldx,
                 beta: accumulate ? 1 : 0, c: y, ldc: ldy)
        }
    }

    /// `Y = alpha·Wᵀ·X` (`+= ` when `accumulate`), X (rows × n) with row stride `ldx`, Y (columns × n).
    public func multiplyTransposed(_ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float = 1, accumulate: Bool = false,
                                   into y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(hasValues || transposedSigns != nil, "a forward-only sign matrix has no transposed product")
        if let transposedSigns, n >= SignMatrix.tileWidth {
            transposedSigns.multiply(x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
        } else {
            gemm(transposeA: true, m: columns, n: n, k: rows, alpha: alpha, a: values.pointer, lda: columns, b: x, ldb: ldx,
                 beta: accumulate ? 1 : 0, c: y, ldc: ldy)
        }
    }
}
