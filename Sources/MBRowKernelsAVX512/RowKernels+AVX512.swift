import MBRowKernels

/// The row loops compiled for AVX-512 CPUs (Skylake-AVX512 class; see Package.swift): one 512-bit
/// vector per 16 floats. Use only where the CPU runs them (`RowKernels.forThisCPU` in MBCore checks).
public let avx512RowKernels = RowKernels(
    affine: { rowAffine($0, $1, $2, $3, $4, $5, $6) }, maskedGradient: { rowMaskedGradient($0, $1, $2, $3, $4, $5, $6) },
    reluGradientSums: { rowReluGradientSums($0, $1, $2, $3, $4, $5) },
    accumulateInputGradient: { rowAccumulateInputGradient($0, $1, $2, $3, $4, $5, $6, $7, $8, $9) },
    sum: { rowSum($0, $1) }, squaredDeviation: { rowSquaredDeviation($0, $1, $2) },
    addLinear: { rowAddLinear($0, $1, $2, $3, $4, $5) }, shiftSum: { rowShiftSum($0, $1, $2, $3, $4, $5) },
    tapBackward: { rowTapBackward($0, $1, $2, $3, $4, $5, $6, $7, $8, $9) }, multiplyAddProbe: { rowMultiplyAddProbe($0) }, name: "avx512")
