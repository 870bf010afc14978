import COpenBLAS

/// Row-major single-precision GEMM, `C = alpha · op(A) · op(B) + beta · C`, with `op(A)` m×k and
/// `op(B)` k×n. A thin named wrapper over OpenBLAS `cblas_sgemm` (loaded as `OpenBLAS` describes).
@inline(__always)
public func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta == 0 { for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) } }
        return
    }
    OpenBLAS.library.sgemm(Int32(MBC_CBLAS_ROW_MAJOR), Int32(transposeA ? MBC_CBLAS_TRANS : MBC_CBLAS_NO_TRANS),
                           Int32(transposeB ? MBC_CBLAS_TRANS : MBC_CBLAS_NO_TRANS),
                           Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// OpenBLAS's worker-thread count (one per rank under `mpirun`).
public enum BLASThreads {
    public static func set(_ n: Int) { OpenBLAS.library.setThreads(Int32(n)) }
    public static var count: Int { Int(OpenBLAS.library.getThreads()) }
}
