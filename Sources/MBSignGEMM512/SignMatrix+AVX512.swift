import MBSignGEMM

/// The sign lookup-table product compiled for AVX-512 (this module is built for Skylake-AVX512-class
/// x86-64: AVX-512 F, BW, DQ, VL; see Package.swift): a table row of 16 floats is one 512-bit
/// vector, so a product reads half as many vectors as the AVX2 build. The arithmetic, and so every
/// result bit, is the AVX2 build's. Call it only where `MBCore.WeightMatrix` says the CPU runs
/// AVX-512 code.
extension SignMatrix {
    public func multiplyAVX512(_ x: UnsafePointer<Float>, ldx: Int, count n: Int, alpha: Float, accumulate: Bool,
                               into y: UnsafeMutablePointer<Float>, ldy: Int) {
        product(x, ldx: ldx, count: n, alpha: alpha, accumulate: accumulate, into: y, ldy: ldy)
    }
}
