import CSystem
import Glibc
import MBSignGEMM
import MBSignGEMM512

/// The builds of the sign lookup-table product (`MBSignGEMM.SignMatrix`): the same arithmetic,
/// so the same result bits, on 256-bit or on 512-bit vectors.
public enum SignTableKernels: String, CaseIterable, Sendable {
    /// Built for Haswell-class CPUs (AVX2, FMA, BMI2).
    case avx2
    /// Built for Skylake-AVX512-class CPUs (AVX-512 F, BW, CD, DQ, VL): a table row is one vector.
    case avx512

    /// Every build this CPU runs, best first (the tests check each).
    public static let runnable: [SignTableKernels] =
        (mbc_cpu_runs_x86_64_v4_code() != 0 ? [.avx512] : []) + (mbc_cpu_runs_haswell_code() != 0 ? [.avx2] : [])

    /// What binary products use in this process: the best build this CPU runs, unless the
    /// environment's `MBC_SIGN_TABLES` names another (`avx2`, `avx512`, or `off` for OpenBLAS),
    /// as `OPENBLAS_CORETYPE` does for OpenBLAS.
    public static let inUse = choice(requested: getenv("MBC_SIGN_TABLES").map { String(cString: $0) }, runnable: runnable)

    /// The build for `requested` (the variable's value; nil or empty: not set) on a CPU that runs
    /// `runnable`, and how it was chosen, e.g. `avx512`, `avx2 (MBC_SIGN_TABLES)`, or
    /// `avx512 (MBC_SIGN_TABLES=sse is none of avx2, avx512, off)`.
    public static func choice(requested: String?, runnable: [SignTableKernels]) -> (kernels: SignTableKernels?, summary: String) {
        let best = runnable.first
        let bestName = best?.rawValue ?? "off (no AVX2: OpenBLAS)"
        guard let requested, !requested.isEmpty else { return (best, bestName) }
        if requested.lowercased() == "off" { return (nil, "off (MBC_SIGN_TABLES)") }
        guard let asked = SignTableKernels(rawValue: requested.lowercased()) else {
            return (best, "\(bestName) (MBC_SIGN_TABLES=\(requested) is none of avx2, avx512, off)")
        }
        guard runnable.contains(asked) else { return (best, "\(bestName) (MBC_SIGN_TABLES=\(requested): this CPU does not run it)") }
        return (asked, "\(asked.rawValue) (MBC_SIGN_TABLES)")
    }
}

/// A row-major weight matrix W (rows × columns) with its two products, `alpha·W·X` and
/// `alpha·Wᵀ·X`. When W is binary (every entry ±1) and the CPU runs Haswell code, the products
/// use sign lookup tables (`MBSignGEMM.SignMatrix`, additions only, on AVX-512 where the CPU has it;
/// BENCHMARKS.md, "Sign lookup tables against sgemm", compares them with OpenBLAS); otherwise, and
/// for fewer than 16 columns of X, OpenBLAS sgemm on the floats.
public final class WeightMatrix {
    /// The lookup-table build binary products use by default (`SignTableKernels.inUse`), or nil for OpenBLAS.
    public static let signTableKernels: SignTableKernels? = SignTableKernels.inUse.kernels
    /// Whether this CPU can run the lookup-table kernels at all.
    public static var lookupTablesAvailable: Bool { !SignTableKernels.runnable.isEmpty }

    public let rows: Int
    public let columns: Int
    public let values: Buffer                  // (rows, columns); empty for a forward-only sign matrix on tables
    private let signs: SignMatrix?             // W, when binary
    private let transposedSigns: SignMatrix?   // Wᵀ, when binary and trained
    private let kernels: SignTableKernels?
    /// False for a forward-only matrix built from signs on lookup tables: no float copy exists.
    private let hasValues: Bool
    /// Whether `transposedSigns` is older than `values`: it is encoded on the first transposed
    /// product after a change (an evaluation forward never needs it).
    private var transposedSignsStale = false

    /// `lookupTables: nil` keeps a binary matrix on the OpenBLAS path (the tests' reference);
    /// a build the CPU does not run must not be asked for.
    public init(rows: Int, columns: Int, binary: Bool, lookupTables: SignTableKernels? = WeightMatrix.signTableKernels) {
        precondition(lookupTables.map(SignTableKernels.runnable.contains) ?? true, "this CPU does not run the \(lookupTables!) sign tables")
        self.rows = rows
        self.columns = columns
        values = Buffer(count: rows * columns)
        hasValues = true
        kernels = binary ? lookupTables : nil
        let tables = kernels != nil
        signs = tables ? SignMatrix(rows: rows, columns: columns) : nil
        transposedSigns = tables ? SignMatrix(rows: columns, columns: rows) : nil
    }

    /// A forward-only ±1 matrix read from `isPositive(row, column)` (a deployed model's packed
    /// bits): on lookup tables every product, however narrow, runs from the signs and no float
    /// matrix is made; without them the ±1 floats are expanded for OpenBLAS.
    public init(rows: Int, columns: Int, signs isPositive: (_ row: Int, _ column: Int) -> Bool,
                lookupTables: SignTableKernels? = WeightMatrix.signTableKernels) {
        precondition(lookupTables.map(SignTableKernels.runnable.contains) ?? true, "this CPU does not run the \(lookupTables!) sign tables")
        self.rows = rows
        self.columns = columns
        transposedSigns = nil
        kernels = lookupTables
        hasValues = lookupTables == nil
        if lookupTables != nil {
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
        guard let signs, transposedSigns != nil else { return }
        assert(values.array(count: rows * columns).allSatisfy { $0 == 1 || $0 == -1 }, "a binary weight matrix holds ±1 only")
        signs.encode(values.pointer, rowStride: columns, columnStride: 1)
        transposedSignsStale = true
    }

    /// `Y = alpha·W·X` (`+= ` when `accumulate`), X (columns × n) with row stride `ldx`, Y (rows × n).
    public func multiply(_ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float = 1, accumulate: Bool = false,
                         into y: UnsafeMutablePointer<Float>, ldy: Int) {
        if let signs, n >= SignMatrix.tileWidth || !hasValues {
            product(signs, x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
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
            if transposedSignsStale {
                transposedSigns.encode(values.pointer, rowStride: 1, columnStride: columns)
                transposedSignsStale = false
            }
            product(transposedSigns, x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
        } else {
            gemm(transposeA: true, m: columns, n: n, k: rows, alpha: alpha, a: values.pointer, lda: columns, b: x, ldb: ldx,
                 beta: accumulate ? 1 : 0, c: y, ldc: ldy)
        }
    }

    private func product(_ signs: SignMatrix, _ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float, accumulate: Bool,
                         into y: UnsafeMutablePointer<Float>, ldy: Int) {
        if kernels == .avx512 {
            signs.multiplyAVX512(x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
        } else {
            signs.multiply(x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
        }
    }
}
