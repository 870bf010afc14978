/// The batch statistics of one feature map, shared by every BatchNorm that reads it.
///
/// In a clique block each feature map feeds several pre-activation BN-ReLU-1x1 layers, each with
/// its own γ and β but the same batch mean and variance (they depend only on the map). They are
/// computed once per forward (`refresh`, after the producer's `resize` marked them stale).
///
/// The same holds in backward. A BatchNorm's input gradient is `a·dz + b·(x − μ) + c` per
/// channel, where only `a·dz` depends on the consumer's ReLU mask; `b` and `c` are per-channel
/// constants. Every consumer adds its `a·dz` at once and its `b`, `c` here; the producer then
/// adds `B·(x − μ) + C`, with B and C the sums over consumers, in one pass
/// (`applyGradientCorrection`), before it reads the gradient.
public final class BatchStatistics {
    public let mean = Buffer()       // (C)
    public let variance = Buffer()   // (C), biased
    public let invStd = Buffer()     // (C), 1 / sqrt(variance + eps)
    private let correctionSlope = Buffer()        // (C): Σ b over consumers
    private let correctionShift = Buffer()        // (C): Σ c over consumers
    var isStale = true
    /// True while some consumer's correction has not yet been added into the gradient.
    public private(set) var hasPendingCorrection = false

    init() {}

    /// Computes the statistics of `x` unless they are current (two passes: mean, then squared
    /// deviations, which keeps precision when |μ| ≫ σ); clears the corrections.
    public func refresh(_ x: Activation) {
        guard isStale else { return }
        let c = x.c, hw = x.plane, n = x.n
        for b in [mean, variance, invStd, correctionSlope, correctionShift] { b.ensure(count: c) }
        correctionSlope.zero(count: c)
        correctionShift.zero(count: c)
        hasPendingCorrection = false
        let m = Double(n * hw)
        for ch in 0..<c {
            var sum = 0.0
            for img in 0..<n { sum += Double(rowSum(x.value.pointer + (img * c + ch) * hw, hw)) }
            let mu = Float(sum / m)
            var sq = 0.0
            for img in 0..<n { sq += Double(rowSquaredDeviation(x.value.pointer + (img * c + ch) * hw, hw, mu)) }
            let v = Float(sq / m)
            mean.pointer[ch] = mu
            variance.pointer[ch] = v
            invStd.pointer[ch] = 1 / (v + BatchNorm.eps).squareRoot()
        }
        isStale = false
    }

    /// One consumer's per-channel terms `b·(x − μ) + c` of the input gradient.
    func addCorrection(channel: Int, slope: Float, shift: Float) {
        correctionSlope.pointer[channel] += slope
        correctionShift.pointer[channel] += shift
        hasPendingCorrection = true
    }

    /// `x.grad += B·(x − μ) + C` for the consumers' summed terms; call once every consumer's
    /// backward has run and before anything reads `x.grad`.
    public func applyGradientCorrection(to x: Activation) {
        guard hasPendingCorrection else { return }
        let c = x.c, hw = x.plane
        for img in 0..<x.n {
            for ch in 0..<c {
                let o = (img * c + ch) * hw
                addLinear(x.value.pointer + o, into: x.grad.pointer + o, count: hw, mean: mean.pointer[ch],
                          slope: correctionSlope.pointer[ch], shift: correctionShift.pointer[ch])
            }
        }
        correctionSlope.zero(count: c)
        correctionShift.zero(count: c)
        hasPendingCorrection = false
    }
}

/// γ, β and the running statistics of a BatchNorm over `channels`, declared under `name`
/// (`.weight`, `.bias`, `.running_mean`, `.running_var`: PyTorch's names).
public struct BatchNormParameters {
    public let channels: Int
    public let gamma: TensorRef
    public let beta: TensorRef
    public let runningMean: TensorRef
    public let runningVar: TensorRef

    public init(name: String, channels: Int, parameters: TensorStore, state: TensorStore) {
        self.channels = channels
        gamma = parameters.declare("\(name).weight", shape: [channels], group: "BatchNorm")
        beta = parameters.declare("\(name).bias", shape: [channels], group: "BatchNorm")
        runningMean = state.declare("\(name).running_mean", shape: [channels], group: "BatchNorm")
        runningVar = state.declare("\(name).running_var", shape: [channels], group: "BatchNorm")
    }

    /// γ = 1, β = 0, running mean 0, running variance 1.
    public func initialize(parameters: TensorStore, state: TensorStore) {
        parameters.value(gamma).update(repeating: 1, count: channels)
        parameters.value(beta).update(repeating: 0, count: channels)
        state.value(runningMean).update(repeating: 0, count: channels)
        state.value(runningVar).update(repeating: 1, count: channels)
    }
}

/// Pre-activation BN-ReLU over the parts of a channel concatenation, applied one image at a time
/// into a (ΣC_p, H·W) scratch matrix that the next layer's GEMM reads while it is in cache.
///
/// Nothing is stored per image: the consumer's backward recomputes the image's matrix
/// (`normalize`) and hands back its gradient (`accumulateInputGradient`). The input gradient's
/// per-channel terms are deferred to the inputs' `BatchStatistics` (see there), whose producers
/// apply them. `BatchNorm(relu: true)` is the naive reference.
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

    /// Per-channel affine terms for this forward: training mode takes the batch statistics
    /// (shared through each input's `BatchStatistics`) and updates the running ones; evaluation
    /// uses the running statistics.
    public func prepare(_ inputs: [Activation], parameters: TensorStore, state: TensorStore, training: Bool) {
        precondition(inputs.count == partChannels.count && zip(inputs, partChannels).allSatisfy { $0.c == $1 })
        let g = parameters.value(norm.gamma), b = parameters.value(norm.beta)
        let rm = state.value(norm.runningMean), rv = state.value(norm.runningVar)
        var row = 0
        for x in inputs {
            if training { x.statistics.refresh(x) }
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
                x.statistics.addCorrection(channel: ch, slope: -k * istd * sdzx / m, shift: -k * sdz / m)
            }
            row += x.c
        }
    }
}

/// Pre-activation BN-ReLU followed by a 1x1 conv over the parts of a channel concatenation:
/// `Y = alpha · W · relu(BN([X_1, ..., X_P]))`, the layer CliqueNet repeats everywhere.
///
/// The same function as `BatchNorm(relu: true)` then `Conv1x1` (its naive reference in the
/// tests), computed image by image so the normalised input never leaves the cache (see
/// `PreActivation`): one GEMM per image with the concatenated weight (O, ΣC_p).
public final class BatchNormReLUConv1x1 {
    public let input: PreActivation
    public let parts: PartWeights
    public let partChannels: [Int]
    public let outChannels: Int
    public let alpha: Float
    public let binary: Bool
    public let output: Activation
    public let inChannels: Int                  // ΣC_p
    private let concatenatedWeight: WeightMatrix  // (O, ΣC_p): the forward weights of every part side by side
    private let weightGradient: Buffer          // (O, ΣC_p)
    private let inputGradient: Buffer           // (ΣC_p, H·W) for one image

    public var norm: BatchNormParameters { input.norm }
    public var weights: [TensorRef] { parts.tensors }

    /// Declares the BatchNorm's tensors under `normName`; `weights` are the 1x1 weights of the
    /// parts in order, each (O, C_p), or one (O, ΣC_p) tensor split by columns.
    public convenience init(normName: String, weights: [TensorRef], partChannels: [Int], outChannels: Int, alpha: Float,
                            binary: Bool, height: Int, width: Int, parameters: TensorStore, state: TensorStore) {
        let norm = BatchNormParameters(name: normName, channels: partChannels.reduce(0, +), parameters: parameters, state: state)
        self.init(norm: norm, weights: weights, partChannels: partChannels, outChannels: outChannels, alpha: alpha,
                  binary: binary, height: height, width: width)
    }

    public init(norm: BatchNormParameters, weights: [TensorRef], partChannels: [Int], outChannels: Int, alpha: Float,
                binary: Bool, height: Int, width: Int) {
        let total = partChannels.reduce(0, +)
        parts = PartWeights(weights, partChannels: partChannels)
        input = PreActivation(norm: norm, partChannels: partChannels, height: height, width: width)
        self.partChannels = partChannels
        self.outChannels = outChannels
        self.alpha = alpha
        self.binary = binary
        inChannels = total
        output = Activation(channels: outChannels, height: height, width: width)
        concatenatedWeight = WeightMatrix(rows: outChannels, columns: total, binary: binary)
        weightGradient = Buffer(count: outChannels * total)
        inputGradient = Buffer(count: total * height * width)
    }

    /// Gathers the forward weight of every part into the (O, ΣC_p) matrix.
    private func gatherWeights(_ store: WeightSource) {
        var column = 0
        for p in partChannels.indices {
            let w = store.forwardWeight(parts.tensors[p], binary: binary) + parts.columnOffsets[p]
            for o in 0..<outChannels {
                (concatenatedWeight.values.pointer + o * inChannels + column).update(from: w + o * parts.rowLength[p], count: partChannels[p])
            }
            column += partChannels[p]
        }
        concatenatedWeight.valuesChanged()
    }

    public func forward(_ inputs: [Activation], parameters: TensorStore, state: TensorStore, weights store: WeightSource,
                        training: Bool) {
        let n = inputs[0].n, hw = inputs[0].plane
        output.resize(batch: n)
        input.prepare(inputs, parameters: parameters, state: state, training: training)
        gatherWeights(store)
        for img in 0..<n {
            let y = input.normalize(inputs, image: img)
            concatenatedWeight.multiply(y, ldx: hw, count: hw, alpha: alpha, into: output.value.pointer + img * outChannels * hw, ldy: hw)
        }
    }

    /// Accumulates dW (latent gradients, no factor alpha for binary weights: identity STE), dγ,
    /// dβ, and each input's gradient (part of it deferred, see `PreActivation`). Must follow a
    /// training forward on the same inputs and weights (it reuses the forward's gathered weight).
    public func backward(_ inputs: [Activation], parameters: TensorStore) {
        let n = output.n, hw = output.plane, o = outChannels, total = inChannels
        weightGradient.zero(count: o * total)
        input.beginBackward()
        for img in 0..<n {
            let dy = output.grad.pointer + img * o * hw
            let y = input.normalize(inputs, image: img)
            gemm(transposeB: true, m: o, n: total, k: hw, a: dy, lda: hw, b: y, ldb: hw,
                 beta: 1, c: weightGradient.pointer, ldc: total)
            concatenatedWeight.multiplyTransposed(dy, ldx: hw, count: hw, alpha: alpha, into: inputGradient.pointer, ldy: hw)
            input.accumulateInputGradient(inputs, image: img, from: inputGradient.pointer)
        }
        input.finishBackward(inputs, parameters: parameters)
        var column = 0
        for p in partChannels.indices {
            let dw = parameters.gradient(parts.tensors[p]) + parts.columnOffsets[p]
            for r in 0..<o {
                let src = weightGradient.pointer + r * total + column, dst = dw + r * parts.rowLength[p]
                for ch in 0..<partChannels[p] { dst[ch] += src[ch] }
            }
            column += partChannels[p]
        }
    }
}

/// dz = dy where y > 0; dx += scale·dz; returns (Σ dz, Σ dz·(x − mean)).
@inline(__always) func maskedGradient(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                      into dx: UnsafeMutablePointer<Float>, count n: Int, mean: Float, scale: Float) -> (Float, Float) {
    var a1 = SIMD4<Float>.zero, a2 = SIMD4<Float>.zero, i = 0
    while i + 4 <= n {
        var dz = load4(dy + i)
        dz.replace(with: 0, where: load4(y + i) .<= 0)
        a1 += dz
        a2 += dz * (load4(x + i) - mean)
        store4(load4(dx + i) + scale * dz, dx + i)
        i += 4
    }
    var s1 = a1.sum(), s2 = a2.sum()
    while i < n {
        let dz = y[i] > 0 ? dy[i] : 0
        s1 += dz
        s2 += dz * (x[i] - mean)
        dx[i] += scale * dz
        i += 1
    }
    return (s1, s2)
}

/// dx += slope·(x − mean) + shift.
@inline(__always) func addLinear(_ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count n: Int,
                                 mean: Float, slope: Float, shift: Float) {
    var i = 0
    while i + 4 <= n { store4(load4(dx + i) + slope * (load4(x + i) - mean) + shift, dx + i); i += 4 }
    while i < n { dx[i] += slope * (x[i] - mean) + shift; i += 1 }
}
