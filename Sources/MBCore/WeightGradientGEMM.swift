import CBF16

/// The arithmetic of the weight-gradient products dW += dY·Xᵀ (`optim.grad_precision`).
public enum GradientPrecision: String, CaseIterable, Sendable {
    /// float32 products (OpenBLAS sgemm), on any CPU.
    case fp32
    /// dY and X rounded to bfloat16 (to nearest even), their products summed in float32; only on
    /// CPUs with AVX512-BF16 (Intel Cooper Lake and Sapphire Rapids and later, AMD Zen 4 and later).
    case bf16

    /// Whether this CPU runs it.
    public var runsOnThisCPU: Bool {
        switch self {
        case .fp32: true
        case .bf16: SignTableKernels.runnable.contains(.avx512) && CPUFeatures.current.contains(.avx512bf16)
        }
    }
}

/// Accumulates a weight gradient over the images of one backward, `dW (M, N) += Σ_i dY_i · X_iᵀ`
/// with dY_i (M, K_i) and X_i (N, K_i): a kernel's backward calls `add` once per image and
/// `finish` before anything reads dW.
///
/// fp32 runs each image's sgemm at once, with the larger of M and N as the product's rows: where
/// M < N it sums dWᵀ += X_i·dY_iᵀ into an (N, M) matrix and adds its transpose into dW at
/// `finish` (OpenBLAS 0.3.21's SkylakeX kernels ran the layer shapes with M < N 1.06-1.22x faster
/// that way round, and those with M > N 1.09-1.18x slower; its Haswell and Zen kernels within 3 %
/// either way; BENCHMARKS.md, "The weight gradient's orientation").
/// bf16 rounds the rows of dY_i and X_i to bfloat16 into packed blocks, image after image along
/// K, and multiplies a block when it is full (and at `finish`), so small images make long products
/// and each block stays in the core's cache. One instance serves every layer of a network in turn
/// (its sums and blocks are the only memory it holds); a product for another dW first finishes the
/// pending one.
public final class WeightGradientGEMM {
    public let precision: GradientPrecision
    /// fp32 with M < N: Σ_i X_i·dY_iᵀ, (N, M), for the pending dW.
    private let transposedSum = Buffer()
    /// The packed bf16 rows: dY's M rows, then X's N rows, each `blockColumns` long.
    private var packed: UnsafeMutablePointer<UInt16>
    private var packedCount = 0
    private var pending: (dw: UnsafeMutablePointer<Float>, ldw: Int, m: Int, n: Int)?
    private var blockColumns = 0
    private var filled = 0

    /// Packed bytes per block, the dY and X rows of one block together: on the layer shapes of
    /// `mbc-bench gemm` (AMD Zen 5, 1 MB of L2 per core) 1 MB and 512 KB were within the
    /// run-to-run noise of each other, 256 KB slower on most shapes.
    public static let blockBytes = 1024 * 1024

    public init(precision: GradientPrecision) {
        precondition(precision.runsOnThisCPU, "grad_precision \(precision.rawValue) on a CPU without it")
        self.precision = precision
        packed = .allocate(capacity: 1)
    }

    deinit { packed.deallocate() }

    /// dW += dY · Xᵀ: dY (m, k) with row stride `ldy`, X (n, k) with row stride `ldx`, dW (m, n)
    /// with row stride `ldw`. The sum may land in dW only at `finish`.
    public func add(m: Int, n: Int, k: Int, dy: UnsafePointer<Float>, ldy: Int, x: UnsafePointer<Float>, ldx: Int,
                    into dw: UnsafeMutablePointer<Float>, ldw: Int) {
        if let p = pending, p.dw != dw || p.ldw != ldw || p.m != m || p.n != n { finish() }
        switch precision {
        case .fp32:
            if m >= n {
                gemm(transposeB: true, m: m, n: n, k: k, a: dy, lda: ldy, b: x, ldb: ldx, beta: 1, c: dw, ldc: ldw)
                return
            }
            if pending == nil {
                pending = (dw, ldw, m, n)
                transposedSum.ensure(count: n * m)
                transposedSum.zero(count: n * m)
            }
            gemm(transposeB: true, m: n, n: m, k: k, a: x, lda: ldx, b: dy, ldb: ldy, beta: 1, c: transposedSum.pointer, ldc: m)
        case .bf16:
            if m == 0 || n == 0 { return }
            if pending == nil { begin(dw: dw, ldw: ldw, m: m, n: n) }
            var done = 0
            while done < k {
                let take = min(k - done, blockColumns - filled)
                mbc_bf16_pack(dy + done, ldy, m, take, packed + filled, blockColumns)
                mbc_bf16_pack(x + done, ldx, n, take, packed + m * blockColumns + filled, blockColumns)
                filled += take
                done += take
                if filled == blockColumns { multiplyBlock() }
            }
        }
    }

    /// Adds every pending product into its dW.
    public func finish() {
        guard let p = pending else { return }
        switch precision {
        case .fp32:
            for row in 0..<p.m {
                let dst = p.dw + row * p.ldw
                for column in 0..<p.n { dst[column] += transposedSum.pointer[column * p.m + row] }
            }
        case .bf16:
            if filled > 0 { multiplyBlock() }
        }
        pending = nil
    }

    private func begin(dw: UnsafeMutablePointer<Float>, ldw: Int, m: Int, n: Int) {
        // A multiple of 32 columns (one VDPBF16PS step), at least 256.
        blockColumns = max(256, Self.blockBytes / (2 * (m + n)) / 32 * 32)
        let count = (m + n) * blockColumns
        if count > packedCount {
            packed.deallocate()
            packed = .allocate(capacity: count)
            packedCount = count
        }
        pending = (dw, ldw, m, n)
        filled = 0
    }

    /// dW += the block's product over its first `filled` columns, zero-padded to a multiple of 32.
    private func multiplyBlock() {
        guard let p = pending else { return }
        let columns = (filled + 31) / 32 * 32
        for row in 0..<(p.m + p.n) { (packed + row * blockColumns + filled).update(repeating: 0, count: columns - filled) }
        mbc_bf16_gemm_nt(p.m, p.n, columns, packed, blockColumns, packed + p.m * blockColumns, blockColumns, p.dw, p.ldw)
        filled = 0
    }
}
