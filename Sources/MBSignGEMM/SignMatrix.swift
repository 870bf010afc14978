/// Products `Y = alpha · S · X` (or `Y += …`) of a ±1 matrix S (M×K) with a float matrix X (K×N),
/// computed with additions only, by lookup tables (the "method of four Russians" applied to signs).
///
/// The columns of S are taken four at a time. For each tile of 16 columns of X, a table holds,
/// for every group of four rows of X, the 16 signed sums `±x₀ ± x₁ ± x₂ ± x₃`; row r of Y is then
/// the sum over groups of the entry picked by row r's 4-bit sign code in that group. Per 16
/// outputs and four columns of S that is two vector loads and two adds where a GEMM does eight
/// FMAs. `mbc-bench gemm` times it against OpenBLAS sgemm on the layer shapes (BENCHMARKS.md,
/// "Sign lookup tables against sgemm"). The sums are exact up to float rounding in another order than a GEMM's.
///
/// This module is compiled for Haswell-class x86-64 (AVX2, FMA, BMI2: see Package.swift): call it
/// only where `MBCore.WeightMatrix.lookupTablesAvailable` says the CPU has those.
public final class SignMatrix {
    /// Columns of X per table: two 8-float vectors.
    public static let tileWidth = 16
    public let rows: Int
    public let columns: Int
    private let groups: Int                            // ⌈K/4⌉
    private let offsets: UnsafeMutablePointer<Int32>   // (M, groups): (g·16 + code)·16, where row r's table entry starts
    private let table: UnsafeMutablePointer<Float>     // (groups, 16 codes, 16 columns), 64-byte aligned
    private let tail: UnsafeMutablePointer<Float>      // (4·groups, 16): a last partial tile of X, zero padded

    public init(rows: Int, columns: Int) {
        precondition(rows > 0 && columns > 0, "a sign matrix needs at least one row and one column")
        self.rows = rows
        self.columns = columns
        groups = (columns + 3) / 4
        offsets = .allocate(capacity: rows * groups)
        offsets.initialize(repeating: 0, count: rows * groups)
        table = Self.alignedFloats(groups * 16 * Self.tileWidth)
        tail = Self.alignedFloats(4 * groups * Self.tileWidth)
    }

    deinit {
        offsets.deallocate()
        UnsafeMutableRawPointer(table).deallocate()
        UnsafeMutableRawPointer(tail).deallocate()
    }

    /// Table rows are read as 32-byte vectors: 64-byte alignment keeps each one inside a cache line.
    private static func alignedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        return raw.initializeMemory(as: Float.self, repeating: 0, count: count)
    }

    /// Takes S's signs from `values`: entry (r, c) is +1 where `values[r·rowStride + c·columnStride] > 0`
    /// and −1 otherwise, so a ±1 matrix is read exactly, and Sᵀ by swapping the strides.
    public func encode(_ values: UnsafePointer<Float>, rowStride: Int, columnStride: Int) {
        encode { r, c in values[r * rowStride + c * columnStride] > 0 }
    }

    /// Takes S's signs from `isPositive(row, column)`: +1 where true, −1 where false (a deployed
    /// model reads them from packed bits, with no float copy of the matrix).
    @inline(__always)
    public func encode(_ isPositive: (_ row: Int, _ column: Int) -> Bool) {
        for r in 0..<rows {
            for g in 0..<groups {
                var code = 0
                for j in 0..<4 where 4 * g + j < columns && isPositive(r, 4 * g + j) {
                    code |= 1 << j
                }
                offsets[r * groups + g] = Int32((g * 16 + code) * Self.tileWidth)
            }
        }
    }

    /// `Y = alpha · S · X`, or `Y += alpha · S · X` when `accumulate`; X is K×n with row stride
    /// `ldx`, Y is M×n with row stride `ldy`.
    public func multiply(_ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float, accumulate: Bool,
                         into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let width = Self.tileWidth
        var p = 0
        while p + width <= n {
            buildTable(x + p, ldx: ldx)
            sumRows(into: y + p, ldy: ldy, width: width, alpha: alpha, accumulate: accumulate)
            p += width
        }
        if p < n {
            // The last columns, through a zero-padded copy.
            let rest = n - p
            for row in 0..<columns {
                let dst = tail + row * width
                dst.update(from: x + row * ldx + p, count: rest)
                (dst + rest).update(repeating: 0, count: width - rest)
            }
            buildTable(tail, ldx: width)
            sumRows(into: y + p, ldy: ldy, width: rest, alpha: alpha, accumulate: accumulate)
        }
    }

    /// table[g][code] = Σ_j ±x_{4g+j} over the tile's 16 columns, bit j of code set for +.
    private func buildTable(_ x: UnsafePointer<Float>, ldx: Int) {
        let width = Self.tileWidth
        for g in 0..<groups {
            let base = 4 * g, t = table + g * 16 * width
            @inline(__always) func row(_ j: Int, _ h: Int) -> V { base + j < columns ? load(x + (base + j) * ldx + h) : .zero }
            var h = 0
            while h < width {
                let x0 = row(0, h), x1 = row(1, h), x2 = row(2, h), x3 = row(3, h)
                // a[c & 3] = ±x₀ ± x₁, b[c >> 2] = ±x₂ ± x₃.
                let p01 = x0 + x1, m01 = x0 - x1, p23 = x2 + x3, m23 = x2 - x3
                let a0 = -p01, a1 = m01, a2 = -m01, a3 = p01
                let b0 = -p23, b1 = m23, b2 = -m23, b3 = p23
                store(a0 + b0, t + 0 * width + h); store(a1 + b0, t + 1 * width + h)
                store(a2 + b0, t + 2 * width + h); store(a3 + b0, t + 3 * width + h)
                store(a0 + b1, t + 4 * width + h); store(a1 + b1, t + 5 * width + h)
                store(a2 + b1, t + 6 * width + h); store(a3 + b1, t + 7 * width + h)
                store(a0 + b2, t + 8 * width + h); store(a1 + b2, t + 9 * width + h)
                store(a2 + b2, t + 10 * width + h); store(a3 + b2, t + 11 * width + h)
                store(a0 + b3, t + 12 * width + h); store(a1 + b3, t + 13 * width + h)
                store(a2 + b3, t + 14 * width + h); store(a3 + b3, t + 15 * width + h)
                h += 8
            }
        }
    }

    /// Every row of Y over the current tile: four rows at a time (eight independent sums).
    private func sumRows(into y: UnsafeMutablePointer<Float>, ldy: Int, width: Int, alpha: Float, accumulate: Bool) {
        let t = UnsafePointer(table), groups = groups
        var r = 0
        while r + 4 <= rows {
            var a0 = V.zero, a1 = V.zero, b0 = V.zero, b1 = V.zero, c0 = V.zero, c1 = V.zero, d0 = V.zero, d1 = V.zero
            let o0 = offsets + r * groups, o1 = o0 + groups, o2 = o1 + groups, o3 = o2 + groups
            for g in 0..<groups {
                let t0 = t + Int(o0[g]), t1 = t + Int(o1[g]), t2 = t + Int(o2[g]), t3 = t + Int(o3[g])
                a0 += load(t0); a1 += load(t0 + 8)
                b0 += load(t1); b1 += load(t1 + 8)
                c0 += load(t2); c1 += load(t2 + 8)
                d0 += load(t3); d1 += load(t3 + 8)
            }
            emit(a0, a1, into: y + r * ldy, width: width, alpha: alpha, accumulate: accumulate)
            emit(b0, b1, into: y + (r + 1) * ldy, width: width, alpha: alpha, accumulate: accumulate)
            emit(c0, c1, into: y + (r + 2) * ldy, width: width, alpha: alpha, accumulate: accumulate)
            emit(d0, d1, into: y + (r + 3) * ldy, width: width, alpha: alpha, accumulate: accumulate)
            r += 4
        }
        while r < rows {
            var a0 = V.zero, a1 = V.zero
            let o = offsets + r * groups
            for g in 0..<groups {
                let entry = t + Int(o[g])
                a0 += load(entry); a1 += load(entry + 8)
            }
            emit(a0, a1, into: y + r * ldy, width: width, alpha: alpha, accumulate: accumulate)
            r += 1
        }
    }

    /// Writes (or adds) alpha·[low, high] into the first `width` floats of `y`.
    @inline(__always)
    private func emit(_ low: V, _ high: V, into y: UnsafeMutablePointer<Float>, width: Int, alpha: Float, accumulate: Bool) {
        var low = low * alpha, high = high * alpha
        if width == Self.tileWidth {
            if accumulate { low += load(y); high += load(y + 8) }
            store(low, y)
            store(high, y + 8)
        } else {
            for i in 0..<width { y[i] = (accumulate ? y[i] : 0) + (i < 8 ? low[i] : high[i - 8]) }
        }
    }
}

typealias V = SIMD8<Float>

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
@inline(__always) private func load(_ p: UnsafeMutablePointer<Float>) -> V { load(UnsafePointer(p)) }
@inline(__always) private func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
