import MBRowKernels

/// Pre-activation BN-ReLU over the parts of a channel concatenation, applied one image at a time
/// into a (ΣC_p, H·W) scratch matrix that the next layer's GEMM reads while it is in cache.
///
/// Nothing is stored per image: the consumer's backward recomputes the image's matrix
/// (`normalize`) and hands back its gradient (`accumulateInputGradient`). The input gradient's
/// per-channel terms are left in the inputs' `deferredTerms` (see `DeferredBatchNormTerms`).
/// `BatchNorm(relu: true)` is the naive reference.
public final class PreActivation {
    public let norm: BatchNormParameters
    public let partChannels: [Int]
    public let channels: Int                    // ΣC_p
    private let normalized: Buffer              // (ΣC_p, H·W) for one image
    // Per channel, from the last forward: y = max((x − mean)·scale + shift, 0).
    private let mean: Buffer
    private let scale: Buffer
    private let shift: Buffer
    private let invStd: Buffer
    private let sums: UnsafeMutablePointer<Double>   // (2, ΣC_p): Σ dz and Σ dz·(x − μ)

    public init(norm: BatchNormParameters, partChannels: [Int], height: Int, width: Int) {
        channels = partChannels.reduce(0, +)
        precondition(norm.channels == channels)
        self.norm = norm
        self.partChannels = partChannels
        normalized = Buffer(count: channels * height * width)
        mean = Buffer(count: channels)
        scale = Buffer(count: channels)
        shift = Buffer(count: channels)
        invStd = Buffer(count: channels)
        sums = .allocate(capacity: 2 * channels)
    }

    deinit { sums.deallocate() }

    /// Per-channel affine terms for this forward: training mode takes each input's batch
    /// statistics (`Activation.statistics`, computed before this call) and updates the running
    /// ones; evaluation uses the running statistics.
    public func prepare(_ inputs: [Activation], parameters: TensorStore, state: TensorStore, training: Bool) {
        precondition(inputs.count == partChannels.count && zip(inputs, partChannels).allSatisfy { $0.c == $1 })
        let g = parameters.value(norm.gamma), b = parameters.value(norm.beta)
        let rm = state.value(norm.runningMean), rv = state.value(norm.runningVar)
        var row = 0
        for x in inputs {
            for ch in 0..<x.c {
                let r = row + ch
                if training {
                    let s = x.statistics
                    mean.pointer[r] = s.mean.pointer[ch]
                    invStd.pointer[r] = s.invStd.pointer[ch]
                    updateRunningStatistics(mean: s.mean.pointer[ch], variance: s.variance.pointer[ch], count: x.n * x.plane,
                                            runningMean: rm + r, runningVar: rv + r)
                } else {
                    mean.pointer[r] = rm[r]
                    invStd.pointer[r] = 1 / (rv[r] + BatchNorm.eps).squareRoot()
                }
                scale.pointer[r] = g[r] * invStd.pointer[r]
                shift.pointer[r] = b[r]
            }
            row += x.c
        }
    }

    /// Writes the normalised, rectified parts of image `img` into the scratch matrix and returns it.
    @discardableResult
    public func normalize(_ inputs: [Activation], image img: Int) -> UnsafeMutablePointer<Float> {
        var row = 0
        for x in inputs {
            let hw = x.plane
            for ch in 0..<x.c {
                let r = row + ch
                affine(x.value.pointer + (img * x.c + ch) * hw, into: normalized.pointer + r * hw, count: hw,
                       mean: mean.pointer[r], scale: scale.pointer[r], shift: shift.pointer[r], relu: true)
            }
            row += x.c
        }
        return normalized.pointer
    }

    public func beginBackward() {
        sums.update(repeating: 0, count: 2 * channels)
    }

    /// From the gradient of image `img`'s scratch matrix (ΣC_p, H·W), right after `normalize` of
    /// that image: `grad += a·dz` for each input, and the sums the deferred terms need.
    public func accumulateInputGradient(_ inputs: [Activation], image img: Int, from dNormalized: UnsafePointer<Float>) {
        var row = 0
        for x in inputs {
            let hw = x.plane
            for ch in 0..<x.c {
                let r = row + ch, off = (img * x.c + ch) * hw
                let (s1, s2) = maskedGradient(dy: dNormalized + r * hw, y: normalized.pointer + r * hw,
                                              x: x.value.pointer + off, into: x.grad.pointer + off, count: hw,
                                              mean: mean.pointer[r], scale: scale.pointer[r])
                sums[r] += Double(s1)
                sums[channels + r] += Double(s2)
            }
            row += x.c
        }
    }

    /// After every image: dγ, dβ, and each input channel's deferred terms.
    public func finishBackward(_ inputs: [Activation], parameters: TensorStore) {
        let g = parameters.value(norm.gamma)
        let dg = parameters.gradient(norm.gamma), db = parameters.gradient(norm.beta)
        var row = 0
        for x in inputs {
            let m = Float(x.n * x.plane)
            for ch in 0..<x.c {
                let r = row + ch, istd = invStd.pointer[r]
                let sdz = Float(sums[r]), sdzx = Float(sums[channels + r]) * istd
                db[r] += sdz
                dg[r] += sdzx
                // dx = k·dz − k·istd·(Σdz·x̂/M)·(x − μ) − k·Σdz/M, k = γ·istd; the first term is done.
                let k = g[r] * istd
                x.deferredTerms.add(channel: ch, slope: -k * istd * sdzx / m, shift: -k * sdz / m)
            }
            row += x.c
        }
    }
}

/// dz = dy where y > 0; dx += scale·dz; returns (Σ dz, Σ dz·(x − mean)).
@inline(__always) func maskedGradient(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                      into dx: UnsafeMutablePointer<Float>, count n: Int, mean: Float, scale: Float) -> (Float, Float) {
    RowKernels.forThisCPU.maskedGradient(dy, y, x, dx, n, mean, scale)
}
