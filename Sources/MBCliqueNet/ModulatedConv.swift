import MBCore

/// The latent filters of one modulated 3x3 conv, `C ∈ R^{(O/k)×C_in×3×3}`, laid out for the
/// factored route: `Bcat[t·O' + i, ch] = sign(C[i, ch, t])` (or `C` itself when unbinarized).
/// One per layer, shared by the layer's Stage-I and Stage-II uses: `prepare()` once per step,
/// the uses accumulate `dBcat`, `foldGradient()` adds it into dC once per backward.
public final class ModulatedFilter {
    public let latent: TensorRef
    public let filters: Int       // O' = O / k
    public let inChannels: Int
    public let binary: Bool
    public let bcat = Buffer()    // (9·O', C_in)
    public let dBcat = Buffer()   // (9·O', C_in)

    public init(latent: TensorRef, filters: Int, inChannels: Int, binary: Bool) {
        self.latent = latent
        self.filters = filters
        self.inChannels = inChannels
        self.binary = binary
        bcat.ensure(count: 9 * filters * inChannels)
        dBcat.ensure(count: 9 * filters * inChannels)
    }

    public func prepare(parameters: TensorStore) {
        let c = parameters.value(latent)
        for i in 0..<filters {
            for ch in 0..<inChannels {
                for t in 0..<9 {
                    let v = c[(i * inChannels + ch) * 9 + t]
                    bcat.pointer[(t * filters + i) * inChannels + ch] = binary ? (v >= 0 ? 1 : -1) : v
                }
            }
        }
        dBcat.zero()
    }

    /// dC[i, ch, t] += dBcat[t·O' + i, ch] (identity straight-through estimator for sign).
    public func foldGradient(parameters: TensorStore) {
        let dc = parameters.gradient(latent)
        for i in 0..<filters {
            for ch in 0..<inChannels {
                for t in 0..<9 {
                    dc[(i * inChannels + ch) * 9 + t] += dBcat.pointer[(t * filters + i) * inChannels + ch]
                }
            }
        }
    }
}

/// One use of a modulated binary 3x3 conv (stride 1, pad 1), computed the factored way of spec
/// section 8: `G = Bcat · X` (one GEMM per image, no im2col), then the masked
/// shift-and-weighted-sum `Y[i·k+j][p] = Σ_t M[j][t] · G[t·O'+i][p + δ_t]`.
/// Backward: `dG` by the transposed shift-sum, `dX = Bcatᵀ·dG`, `dBcat += dG·Xᵀ`, and
/// `dM[j][t] += Σ_i Σ_p dY[i·k+j][p] · G[t·O'+i][p + δ_t]` from the cached G.
public final class ModulatedConv {
    public let filter: ModulatedFilter
    public let mfilter: TensorRef   // (k, 3, 3), shared by the block
    public let k: Int
    public let output: Activation
    private let g = Buffer()        // (N, 9·O', H·W): the forward GEMM, kept for dM
    private let dg = Buffer()       // (9·O', H·W) for one image

    public init(filter: ModulatedFilter, mfilter: TensorRef, k: Int, height: Int, width: Int) {
        self.filter = filter
        self.mfilter = mfilter
        self.k = k
        output = Activation(channels: filter.filters * k, height: height, width: width)
    }

    public func forward(_ x: Activation, parameters: TensorStore) {
        precondition(x.c == filter.inChannels)
        output.resize(batch: x.n)
        let hw = x.plane, rows = 9 * filter.filters
        g.ensure(count: x.n * rows * hw)
        let m = parameters.value(mfilter)
        for img in 0..<x.n {
            let gi = g.pointer + img * rows * hw
            gemm(m: rows, n: hw, k: x.c, a: filter.bcat.pointer, lda: x.c,
                 b: x.value.pointer + img * x.perImage, ldb: hw, c: gi, ldc: hw)
            shiftSum(g: gi, m: m, into: output.value.pointer + img * output.perImage, height: x.h, width: x.w)
        }
    }

    /// Y[i·k+j] = Σ_t M[j][t] · shift_t(G[t·O'+i]) for one image.
    func shiftSum(g: UnsafePointer<Float>, m: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, height h: Int, width w: Int) {
        let hw = h * w, of = filter.filters
        for i in 0..<of {
            let yi = y + i * k * hw
            yi.update(repeating: 0, count: k * hw)
            for yy in 0..<h {
                for t in 0..<9 {
                    let sy = yy + t / 3 - 1
                    if sy < 0 || sy >= h { continue }
                    let src = g + (t * of + i) * hw + sy * w
                    for j in 0..<k {
                        shiftedAdd(src, scale: m[j * 9 + t], into: yi + j * hw + yy * w, width: w, offset: t % 3 - 1)
                    }
                }
            }
        }
    }

    /// Accumulates dX into `x.grad`, dBcat into the filter, dM into the M-filter's gradient.
    public func backward(_ x: Activation, parameters: TensorStore) {
        let hw = x.plane, h = x.h, w = x.w, of = filter.filters, rows = 9 * of
        dg.ensure(count: rows * hw)
        let m = parameters.value(mfilter), dm = parameters.gradient(mfilter)
        for img in 0..<x.n {
            let dy = output.grad.pointer + img * output.perImage
            let gi = g.pointer + img * rows * hw
            // dG[t·O'+i][q] = Σ_j M[j][t] · dY[i·k+j][q − δ_t]; dM[j][t] += Σ_p dY[i·k+j][p] · G[t·O'+i][p + δ_t].
            for i in 0..<of {
                for t in 0..<9 {
                    let du = t / 3 - 1, dv = t % 3 - 1
                    let dgRow = dg.pointer + (t * of + i) * hw
                    dgRow.update(repeating: 0, count: hw)
                    let gt = gi + (t * of + i) * hw
                    for j in 0..<k {
                        let dyj = dy + (i * k + j) * hw
                        let mj = m[j * 9 + t]
                        var dot: Float = 0
                        for yy in 0..<h {
                            let sy = yy + du   // input row read by output row yy
                            if sy < 0 || sy >= h { continue }
                            shiftedAdd(dyj + yy * w, scale: mj, into: dgRow + sy * w, width: w, offset: -dv)
                            dot += shiftedDot(dyj + yy * w, gt + sy * w, width: w, offset: dv)
                        }
                        dm[j * 9 + t] += dot
                    }
                }
            }
            gemm(transposeA: true, m: x.c, n: hw, k: rows, a: filter.bcat.pointer, lda: x.c, b: dg.pointer, ldb: hw,
                 beta: 1, c: x.grad.pointer + img * x.perImage, ldc: hw)
            gemm(transposeB: true, m: rows, n: x.c, k: hw, a: dg.pointer, lda: hw,
                 b: x.value.pointer + img * x.perImage, ldb: hw, beta: 1, c: filter.dBcat.pointer, ldc: x.c)
        }
    }
}

/// Σ_x a[x] · b[x + offset] over 0 ≤ x + offset < width. offset ∈ {−1, 0, 1}.
@inline(__always) func shiftedDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, width w: Int, offset: Int) -> Float {
    var s: Float = 0
    switch offset {
    case 0: for x in 0..<w { s += a[x] * b[x] }
    case 1: for x in 0..<(w - 1) { s += a[x] * b[x + 1] }
    default: for x in 1..<w { s += a[x] * b[x - 1] }
    }
    return s
}
