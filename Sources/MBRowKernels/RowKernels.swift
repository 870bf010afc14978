/// The per-row loops of BatchNorm and its relatives (normalise, ReLU mask, gradient sums), written
/// once over 16-float vectors and compiled three times: here for any x86-64 (as 128-bit SSE), in
/// `MBRowKernelsAVX2` for Haswell-class CPUs and in `MBRowKernelsAVX512` for AVX-512 ones. Each
/// build does the same float operations in the same order (16 lanes, then the lanes summed
/// in order, then the tail), so all three give the same bits; `RowKernels.forThisCPU` picks the
/// widest the CPU runs. The functions are inlined into each build's wrappers (`RowKernels`), never
/// called across modules, so no build runs another's instructions.
public struct RowKernels: Sendable {
    /// dst = (src − mean)·scale + shift, then ReLU if asked.
    public let affine: @Sendable (_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                                  _ mean: Float, _ scale: Float, _ shift: Float, _ relu: Bool) -> Void
    /// dz = dy where y > 0; dx += scale·dz; returns (Σ dz, Σ dz·(x − mean)).
    public let maskedGradient: @Sendable (_ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                          _ dx: UnsafeMutablePointer<Float>, _ count: Int, _ mean: Float, _ scale: Float) -> (Float, Float)
    /// (Σ dz, Σ dz·(x − mean)) over one row, dz = dy where y > 0 (or everywhere without ReLU).
    public let reluGradientSums: @Sendable (_ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                            _ count: Int, _ mean: Float, _ relu: Bool) -> (Float, Float)
    /// dx += a·dz + b·(x − mean) + c, dz = dy masked by the ReLU.
    public let accumulateInputGradient: @Sendable (_ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                                   _ dx: UnsafeMutablePointer<Float>, _ count: Int, _ mean: Float,
                                                   _ a: Float, _ b: Float, _ c: Float, _ relu: Bool) -> Void
    /// Σ p[i].
    public let sum: @Sendable (_ p: UnsafePointer<Float>, _ count: Int) -> Float
    /// Σ (p[i] − mean)².
    public let squaredDeviation: @Sendable (_ p: UnsafePointer<Float>, _ count: Int, _ mean: Float) -> Float
    /// dx += slope·(x − mean) + shift.
    public let addLinear: @Sendable (_ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ count: Int,
                                     _ mean: Float, _ slope: Float, _ shift: Float) -> Void

    /// One filter's output of the modulated conv: y_j[p] = Σ_t M[j][t]·mask_t[p]·tap_t[p] for
    /// j < k, the nine shifted tap planes `taps`, masks (9, count), M (k, 9), y (k, count).
    public let shiftSum: @Sendable (_ taps: UnsafePointer<UnsafePointer<Float>>, _ masks: UnsafePointer<Float>, _ count: Int,
                                    _ m: UnsafePointer<Float>, _ k: Int, _ y: UnsafeMutablePointer<Float>) -> Void
    /// One tap t of one filter in the modulated conv's backward: dG[p] = maskBack[p]·Σ_j M[j][t]·dyBack_j[p]
    /// and sums_j += dy_j ⊙ mask[p]·G[p] (16 lanes per j, kept across calls), rows j of dY `count` apart,
    /// `mColumn[9·j]` = M[j][t].
    public let tapBackward: @Sendable (_ g: UnsafePointer<Float>, _ mask: UnsafePointer<Float>, _ maskBack: UnsafePointer<Float>,
                                       _ dg: UnsafeMutablePointer<Float>, _ dyBack: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                       _ count: Int, _ k: Int, _ mColumn: UnsafePointer<Float>, _ sums: UnsafeMutablePointer<Float>) -> Void

    /// `iterations` rounds of 12 independent 16-float multiply-adds on registers alone (returns
    /// a value that depends on all of them): `mbc-bench model` times it for this build's peak.
    public let multiplyAddProbe: @Sendable (_ iterations: Int) -> Float

    /// The build's name: `portable`, `avx2` or `avx512`.
    public let name: String

    @inlinable
    public init(affine: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Float, Float, Float, Bool) -> Void,
                maskedGradient: @escaping @Sendable (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Float, Float) -> (Float, Float),
                reluGradientSums: @escaping @Sendable (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Int, Float, Bool) -> (Float, Float),
                accumulateInputGradient: @escaping @Sendable (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Float, Float, Float, Float, Bool) -> Void,
                sum: @escaping @Sendable (UnsafePointer<Float>, Int) -> Float,
                squaredDeviation: @escaping @Sendable (UnsafePointer<Float>, Int, Float) -> Float,
                addLinear: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Float, Float, Float) -> Void,
                shiftSum: @escaping @Sendable (UnsafePointer<UnsafePointer<Float>>, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void,
                tapBackward: @escaping @Sendable (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                                                  UnsafePointer<Float>, UnsafePointer<Float>, Int, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                multiplyAddProbe: @escaping @Sendable (Int) -> Float, name: String) {
        self.affine = affine
        self.maskedGradient = maskedGradient
        self.reluGradientSums = reluGradientSums
        self.accumulateInputGradient = accumulateInputGradient
        self.sum = sum
        self.squaredDeviation = squaredDeviation
        self.addLinear = addLinear
        self.shiftSum = shiftSum
        self.tapBackward = tapBackward
        self.multiplyAddProbe = multiplyAddProbe
        self.name = name
    }

    /// This module's build: any x86-64 runs it. Each build constructs its set the same way, in its
    /// own module, so that the closures (and the loops inlined into them) are its own code.
    public static let portable = RowKernels(
        affine: { rowAffine($0, $1, $2, $3, $4, $5, $6) }, maskedGradient: { rowMaskedGradient($0, $1, $2, $3, $4, $5, $6) },
        reluGradientSums: { rowReluGradientSums($0, $1, $2, $3, $4, $5) },
        accumulateInputGradient: { rowAccumulateInputGradient($0, $1, $2, $3, $4, $5, $6, $7, $8, $9) },
        sum: { rowSum($0, $1) }, squaredDeviation: { rowSquaredDeviation($0, $1, $2) },
        addLinear: { rowAddLinear($0, $1, $2, $3, $4, $5) }, shiftSum: { rowShiftSum($0, $1, $2, $3, $4, $5) },
        tapBackward: { rowTapBackward($0, $1, $2, $3, $4, $5, $6, $7, $8, $9) }, multiplyAddProbe: { rowMultiplyAddProbe($0) }, name: "portable")
}

@usableFromInline typealias Row = SIMD16<Float>

@inlinable @inline(__always) func load(_ p: UnsafePointer<Float>) -> Row { UnsafeRawPointer(p).loadUnaligned(as: Row.self) }
@inlinable @inline(__always) func load(_ p: UnsafeMutablePointer<Float>) -> Row { load(UnsafePointer(p)) }
@inlinable @inline(__always) func store(_ v: Row, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Row.self) }

/// The lanes of `v` summed in lane order (the same order in every build).
@inlinable @inline(__always) func laneSum(_ v: Row) -> Float {
    var s: Float = 0
    for i in 0..<16 { s += v[i] }
    return s
}

@inlinable @inline(__always)
public func rowAffine(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ mean: Float, _ scale: Float,
               _ shift: Float, _ relu: Bool) {
    var i = 0
    if relu {
        while i + 16 <= n { store(pointwiseMax((load(src + i) - mean) * scale + shift, .zero), dst + i); i += 16 }
        while i < n { dst[i] = max((src[i] - mean) * scale + shift, 0); i += 1 }
    } else {
        while i + 16 <= n { store((load(src + i) - mean) * scale + shift, dst + i); i += 16 }
        while i < n { dst[i] = (src[i] - mean) * scale + shift; i += 1 }
    }
}

@inlinable @inline(__always)
public func rowMaskedGradient(_ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                       _ dx: UnsafeMutablePointer<Float>, _ n: Int, _ mean: Float, _ scale: Float) -> (Float, Float) {
    var a1 = Row.zero, a2 = Row.zero, i = 0
    while i + 16 <= n {
        var dz = load(dy + i)
        dz.replace(with: 0, where: load(y + i) .<= 0)
        a1 += dz
        a2 += dz * (load(x + i) - mean)
        store(load(dx + i) + scale * dz, dx + i)
        i += 16
    }
    var s1 = laneSum(a1), s2 = laneSum(a2)
    while i < n {
        let dz = y[i] > 0 ? dy[i] : 0
        s1 += dz
        s2 += dz * (x[i] - mean)
        dx[i] += scale * dz
        i += 1
    }
    return (s1, s2)
}

@inlinable @inline(__always)
public func rowReluGradientSums(_ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                         _ n: Int, _ mean: Float, _ relu: Bool) -> (Float, Float) {
    var a1 = Row.zero, a2 = Row.zero, i = 0
    while i + 16 <= n {
        var dz = load(dy + i)
        if relu { dz.replace(with: 0, where: load(y + i) .<= 0) }
        a1 += dz
        a2 += dz * (load(x + i) - mean)
        i += 16
    }
    var s1 = laneSum(a1), s2 = laneSum(a2)
    while i < n {
        let dz = (!relu || y[i] > 0) ? dy[i] : 0
        s1 += dz
        s2 += dz * (x[i] - mean)
        i += 1
    }
    return (s1, s2)
}

@inlinable @inline(__always)
public func rowAccumulateInputGradient(_ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                _ dx: UnsafeMutablePointer<Float>, _ n: Int, _ mean: Float,
                                _ a: Float, _ b: Float, _ c: Float, _ relu: Bool) {
    var i = 0
    while i + 16 <= n {
        var dz = load(dy + i)
        if relu { dz.replace(with: 0, where: load(y + i) .<= 0) }
        store(load(dx + i) + a * dz + b * (load(x + i) - mean) + c, dx + i)
        i += 16
    }
    while i < n {
        let dz = (!relu || y[i] > 0) ? dy[i] : 0
        dx[i] += a * dz + b * (x[i] - mean) + c
        i += 1
    }
}

@inlinable @inline(__always)
public func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Row.zero, i = 0
    while i + 16 <= n { acc += load(p + i); i += 16 }
    var s = laneSum(acc)
    while i < n { s += p[i]; i += 1 }
    return s
}

@inlinable @inline(__always)
public func rowSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ mean: Float) -> Float {
    var acc = Row.zero, i = 0
    while i + 16 <= n { let d = load(p + i) - mean; acc += d * d; i += 16 }
    var s = laneSum(acc)
    while i < n { let d = p[i] - mean; s += d * d; i += 1 }
    return s
}

@inlinable @inline(__always)
public func rowAddLinear(_ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int, _ mean: Float, _ slope: Float, _ shift: Float) {
    var i = 0
    while i + 16 <= n { store(load(dx + i) + slope * (load(x + i) - mean) + shift, dx + i); i += 16 }
    while i < n { dx[i] += slope * (x[i] - mean) + shift; i += 1 }
}

@inlinable @inline(__always)
public func rowShiftSum(_ tp: UnsafePointer<UnsafePointer<Float>>, _ mask: UnsafePointer<Float>, _ hw: Int,
                        _ m: UnsafePointer<Float>, _ k: Int, _ yi: UnsafeMutablePointer<Float>) {
    var p = 0
    while p + 16 <= hw {
        let v0 = load(tp[0] + p) * load(mask + p), v1 = load(tp[1] + p) * load(mask + hw + p)
        let v2 = load(tp[2] + p) * load(mask + 2 * hw + p), v3 = load(tp[3] + p) * load(mask + 3 * hw + p)
        let v4 = load(tp[4] + p) * load(mask + 4 * hw + p), v5 = load(tp[5] + p) * load(mask + 5 * hw + p)
        let v6 = load(tp[6] + p) * load(mask + 6 * hw + p), v7 = load(tp[7] + p) * load(mask + 7 * hw + p)
        let v8 = load(tp[8] + p) * load(mask + 8 * hw + p)
        for j in 0..<k {
            let mj = m + j * 9
            var acc = v0 * mj[0]
            acc += v1 * mj[1]; acc += v2 * mj[2]; acc += v3 * mj[3]; acc += v4 * mj[4]
            acc += v5 * mj[5]; acc += v6 * mj[6]; acc += v7 * mj[7]; acc += v8 * mj[8]
            store(acc, yi + j * hw + p)
        }
        p += 16
    }
    while p < hw {
        for j in 0..<k {
            var acc: Float = 0
            for t in 0..<9 { acc += tp[t][p] * mask[t * hw + p] * m[j * 9 + t] }
            yi[j * hw + p] = acc
        }
        p += 1
    }
}

@inlinable @inline(__always)
public func rowTapBackward(_ gt: UnsafePointer<Float>, _ maskT: UnsafePointer<Float>, _ maskBack: UnsafePointer<Float>,
                           _ dgRow: UnsafeMutablePointer<Float>, _ dyBack: UnsafePointer<Float>, _ dyi: UnsafePointer<Float>,
                           _ hw: Int, _ k: Int, _ mColumn: UnsafePointer<Float>, _ sums: UnsafeMutablePointer<Float>) {
    var p = 0
    while p + 16 <= hw {
        let gm = load(gt + p) * load(maskT + p)
        var back = Row.zero
        for j in 0..<k {
            back += load(dyBack + j * hw + p) * mColumn[j * 9]
            store(load(sums + 16 * j) + load(dyi + j * hw + p) * gm, sums + 16 * j)
        }
        store(back * load(maskBack + p), dgRow + p)
        p += 16
    }
    while p < hw {
        let gm = gt[p] * maskT[p]
        var back: Float = 0
        for j in 0..<k {
            back += dyBack[j * hw + p] * mColumn[j * 9]
            sums[16 * j] += dyi[j * hw + p] * gm
        }
        dgRow[p] = back * maskBack[p]
        p += 1
    }
}

@inlinable @inline(__always)
public func rowMultiplyAddProbe(_ iterations: Int) -> Float {
    let m = Row(repeating: 0.999_999), b = Row(repeating: 1e-7)
    var a0 = Row(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
    for _ in 0..<iterations {
        a0 = b.addingProduct(a0, m); a1 = b.addingProduct(a1, m); a2 = b.addingProduct(a2, m); a3 = b.addingProduct(a3, m)
        a4 = b.addingProduct(a4, m); a5 = b.addingProduct(a5, m); a6 = b.addingProduct(a6, m); a7 = b.addingProduct(a7, m)
        a8 = b.addingProduct(a8, m); a9 = b.addingProduct(a9, m); a10 = b.addingProduct(a10, m); a11 = b.addingProduct(a11, m)
    }
    return laneSum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11)
}
