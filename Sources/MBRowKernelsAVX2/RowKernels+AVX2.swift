import MBRowKernels

/// The row loops compiled for Haswell-class CPUs (AVX2, FMA, BMI2; see Package.swift). Use only
/// where the CPU runs them (`RowKernels.forThisCPU` in MBCore checks).
public let avx2RowKernels = RowKernels(
    affine: { rowAffine($0, $1, $2, $3, $4, $5, $6) }, maskedGradient: { rowMaskedGradient($0, $1, $2, $3, $4, $5, $6) },
    reluGradientSums: { rowReluGradientSums($0, $1, $2, $3, $4, $5) },
    accumulateInputGradient: { rowAccumulateInputGradient($0, $1, $2, $3, $4, $5, $6, $7, $8, $9) },
    sum: { rowSum($0, $1) }, squaredDeviation: { rowSquaredDeviation($0, $1, $2) },
    addLinear: { rowAddLinear($0, $1, $2, $3, $4, $5) }, shiftSum: { rowShiftSum($0, $1, $2, $3, $4, $5) },
    tapBackward: { rowTapBackward($0, $1, $2, $3, $4, $5, $6, $7, $8, $9) }, multiplyAddProbe: { rowMultiplyAddProbe($0) }, name: "avx2")
