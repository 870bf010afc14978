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
/// A row of the table is one `SIMD16<Float>`: two 256-bit vectors where this module is compiled
/// (Haswell-class x86-64: AVX2, FMA, BMI2; see Package.swift), one 512-bit vector in
/// `MBSignGEMM512`, which inlines the same kernel (`product`) compiled for AVX-512. Call
/// `multiply` only where `MBCore.WeightMatrix` says the CPU runs Haswell code, and
/// `multiplyAVX512` only where it runs AVX-512 code.
public final class SignMatrix {
    /// Columns of X per table: one `SIMD16<Float>`.
    public static let tileWidth = 16
    public let rows: Int
    public let columns: Int
    @usableFromInline let groups: Int                            // ⌈K/4⌉
    @usableFromInline let offsets: UnsafeMutablePointer<Int32>   // (M, groups): (g·16 + code)·16, where row r's table entry starts
    @usableFromInline let table: UnsafeMutablePointer<Float>     // (groups, 16 codes, 16 columns), 64-byte aligned
    @usableFromInline let tail: UnsafeMutablePointer<Float>      // (4·groups, 16): a last partial tile of X, zero padded

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

    /// A table row is read as one 64-byte vector: 64-byte alignment keeps it inside a cache line.
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
    /// `ldx`, Y is M×n with row stride `ldy`. AVX2 code.
    public func multiply(_ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float, accumulate: Bool,
                         into y: UnsafeMutablePointer<Float>, ldy: Int) {
        product(x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
    }

    /// The product, inlined into each module that calls it so that it is compiled for that
    /// module's CPU (AVX2 here, AVX-512 in MBSignGEMM512).
    @inlinable @inline(__always)
    public func product(_ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float, accumulate: Bool,
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
            buildTable(UnsafePointer(tail), ldx: width)
            sumRows(into: y + p, ldy: ldy, width: rest, alpha: alpha, accumulate: accumulate)
        }
    }

    /// table[g][code] = Σ_j ±x_{4g+j} over the tile's 16 columns, bit j of code set for +.
    @inlinable @inline(__always)
    func buildTable(_ x: UnsafePointer<Float>, ldx: Int) {
        let width = Self.tileWidth, columns = columns
        for g in 0..<groups {
            let base = 4 * g, t = table + g * 16 * width
            @inline(__always) func row(_ j: Int) -> SignRow { base + j < columns ? SignRow.load(x + (base + j) * ldx) : .zero }
            let x0 = row(0), x1 = row(1), x2 = row(2), x3 = row(3)
            // a[c & 3] = ±x₀ ± x₁, b[c >> 2] = ±x₂ ± x₃.
            let p01 = x0 + x1, m01 = x0 - x1, p23 = x2 + x3, m23 = x2 - x3
            let a0 = -p01, a1 = m01, a2 = -m01, a3 = p01
            let b0 = -p23, b1 = m23, b2 = -m23, b3 = p23
            (a0 + b0).store(t + 0 * width); (a1 + b0).store(t + 1 * width)
            (a2 + b0).store(t + 2 * width); (a3 + b0).store(t + 3 * width)
            (a0 + b1).store(t + 4 * width); (a1 + b1).store(t + 5 * width)
            (a2 + b1).store(t + 6 * width); (a3 + b1).store(t + 7 * width)
            (a0 + b2).store(t + 8 * width); (a1 + b2).store(t + 9 * width)
            (a2 + b2).store(t + 10 * width); (a3 + b2).store(t + 11 * width)
            (a0 + b3).store(t + 12 * width); (a1 + b3).store(t + 13 * width)
            (a2 + b3).store(t + 14 * width); (a3 + b3).store(t + 15 * width)
        }
    }

    /// Every row of Y over the current tile: four rows at a time (four independent sums).
    @inlinable @inline(__always)
    func sumRows(into y: UnsafeMutablePointer<Float>, ldy: Int, width: Int, alpha: Float, accumulate: Bool) {
        let t = UnsafePointer(table), groups = groups, rows = rows
        var r = 0
        while r + 4 <= rows {
            var a = SignRow.zero, b = SignRow.zero, c = SignRow.zero, d = SignRow.zero
            let o0 = offsets + r * groups, o1 = o0 + groups, o2 = o1 + groups, o3 = o2 + groups
            for g in 0..<groups {
                a += SignRow.load(t + Int(o0[g]))
                b += SignRow.load(t + Int(o1[g]))
                c += SignRow.load(t + Int(o2[g]))
                d += SignRow.load(t + Int(o3[g]))
            }
            a.emit(into: y + r * ldy, width: width, alpha: alpha, accumulate: accumulate)
            b.emit(into: y + (r + 1) * ldy, width: width, alpha: alpha, accumulate: accumulate)
            c.emit(into: y + (r + 2) * ldy, width: width, alpha: alpha, accumulate: accumulate)
            d.emit(into: y + (r + 3) * ldy, width: width, alpha: alpha, accumulate: accumulate)
            r += 4
        }
        while r < rows {
            var a = SignRow.zero
            let o = offsets + r * groups
            for g in 0..<groups { a += SignRow.load(t + Int(o[g])) }
            a.emit(into: y + r * ldy, width: width, alpha: alpha, accumulate: accumulate)
            r += 1
        }
    }
}

/// One table row: the 16 columns of a tile.
public typealias SignRow = SIMD16<Float>

extension SIMD16 where Scalar == Float {
    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }

    @inlinable @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> Self { load(UnsafePointer(p)) }

    @inlinable @inline(__always)
    func store(_ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self) }

    /// Writes (or adds) alpha·self into the first `width` floats of `y`.
    @inlinable @inline(__always)
    func emit(into y: UnsafeMutablePointer<Float>, width: Int, alpha: Float, accumulate: Bool) {
        var v = self * alpha
        if width == SignMatrix.tileWidth {
            if accumulate { v += Self.load(y) }
            v.store(y)
        } else {
            for i in 0..<width { y[i] = (accumulate ? y[i] : 0) + v[i] }
        }
    }
}
