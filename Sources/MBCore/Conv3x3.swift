/// A 3x3 convolution, stride 1, zero padding 1, as im2col + GEMM (one image at a time, so the
/// column buffer is (9·C, H·W) and is reused). Weights are (O, C, 3, 3) = an O × 9C matrix.
public final class Conv3x3 {
    public let inChannels: Int
    public let outChannels: Int
    private let columns = Buffer()   // (9·C, H·W) for one image

    public init(inChannels: Int, outChannels: Int) {
        self.inChannels = inChannels
        self.outChannels = outChannels
    }

    /// y = alpha · W ⊛ x.
    public func forward(_ x: Activation, weight: UnsafePointer<Float>, alpha: Float = 1, into y: Activation) {
        precondition(x.c == inChannels && y.c == outChannels && x.h == y.h && x.w == y.w)
        y.resize(batch: x.n)
        let hw = x.plane, k = 9 * inChannels
        columns.ensure(count: k * hw)
        for img in 0..<x.n {
            im2col(x.value.pointer + img * x.perImage, channels: inChannels, height: x.h, width: x.w, into: columns.pointer)
            gemm(m: outChannels, n: hw, k: k, alpha: alpha, a: weight, lda: k, b: columns.pointer, ldb: hw,
                 c: y.value.pointer + img * y.perImage, ldc: hw)
        }
    }

    /// Accumulates dW (for `alpha · W`, without the factor alpha) and, when `inputGradient`, dX.
    public func backward(_ x: Activation, weight: UnsafePointer<Float>, alpha: Float = 1, output y: Activation,
                         weightGradient: UnsafeMutablePointer<Float>, inputGradient: Bool) {
        let hw = x.plane, k = 9 * inChannels
        columns.ensure(count: k * hw)
        for img in 0..<x.n {
            let dy = y.grad.pointer + img * y.perImage
            im2col(x.value.pointer + img * x.perImage, channels: inChannels, height: x.h, width: x.w, into: columns.pointer)
            gemm(transposeB: true, m: outChannels, n: k, k: hw, a: dy, lda: hw, b: columns.pointer, ldb: hw,
                 beta: 1, c: weightGradient, ldc: k)
            if inputGradient {
                gemm(transposeA: true, m: k, n: hw, k: outChannels, alpha: alpha, a: weight, lda: k, b: dy, ldb: hw,
                     c: columns.pointer, ldc: hw)
                col2imAdd(columns.pointer, channels: inChannels, height: x.h, width: x.w,
                          into: x.grad.pointer + img * x.perImage)
            }
        }
    }
}

/// cols[(c·9 + t), p] = x[c, p + δ_t], 0 outside the image; δ_t = (u − 1, v − 1) for t = 3u + v.
public func im2col(_ x: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, into cols: UnsafeMutablePointer<Float>) {
    let hw = h * w
    for c in 0..<channels {
        let plane = x + c * hw
        for t in 0..<9 {
            let du = t / 3 - 1, dv = t % 3 - 1
            let row = cols + (c * 9 + t) * hw
            for yy in 0..<h {
                let dst = row + yy * w
                let sy = yy + du
                if sy < 0 || sy >= h { dst.update(repeating: 0, count: w); continue }
                let src = plane + sy * w
                shiftedCopy(src, into: dst, width: w, offset: dv)
            }
        }
    }
}

/// The adjoint of `im2col`: x[c, q] += Σ_t cols[(c·9 + t), q − δ_t].
func col2imAdd(_ cols: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, into x: UnsafeMutablePointer<Float>) {
    let hw = h * w
    for c in 0..<channels {
        let plane = x + c * hw
        for t in 0..<9 {
            let du = t / 3 - 1, dv = t % 3 - 1
            let row = cols + (c * 9 + t) * hw
            for yy in 0..<h {
                let sy = yy + du
                if sy < 0 || sy >= h { continue }
                shiftedAdd(row + yy * w, scale: 1, into: plane + sy * w, width: w, offset: -dv)
            }
        }
    }
}

/// dst[x] = src[x + offset] where 0 ≤ x + offset < width, else 0. offset ∈ {−1, 0, 1}.
@inline(__always) public func shiftedCopy(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, width w: Int, offset: Int) {
    switch offset {
    case 0: dst.update(from: src, count: w)
    case 1: (dst).update(from: src + 1, count: w - 1); dst[w - 1] = 0
    default: (dst + 1).update(from: src, count: w - 1); dst[0] = 0
    }
}

/// dst[x] += scale · src[x + offset] where 0 ≤ x + offset < width. offset ∈ {−1, 0, 1}.
@inline(__always) public func shiftedAdd(_ src: UnsafePointer<Float>, scale: Float, into dst: UnsafeMutablePointer<Float>, width w: Int, offset: Int) {
    switch offset {
    case 0: for x in 0..<w { dst[x] += scale * src[x] }
    case 1: for x in 0..<(w - 1) { dst[x] += scale * src[x + 1] }
    default: for x in 1..<w { dst[x] += scale * src[x - 1] }
    }
}
