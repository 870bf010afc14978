import Synchronization

/// A 1x1 convolution over the parts of a channel concatenation that is never materialised:
/// `Y = Σ_p alpha · W_p · X_p`, one GEMM per part and image, each part with its own weight tensor
/// (O, C_p), or one weight tensor (O, ΣC_p) split by columns. With binarized weights, `W_p` is the sign of the latent tensor and `alpha` is
/// McDonnell's constant `sqrt(2/fan_in)`; the latent gradient is the gradient of the scaled binary
/// weight (identity straight-through estimator, no factor alpha).
public final class Conv1x1 {
    public let parts: PartWeights
    public let partChannels: [Int]
    public let outChannels: Int
    public let alpha: Float
    public let binary: Bool
    public let output: Activation

    public convenience init(weights: [TensorRef], partChannels: [Int], outChannels: Int, alpha: Float, binary: Bool,
                            height: Int, width: Int) {
        precondition(weights.count == partChannels.count)
        self.init(parts: PartWeights(weights, partChannels: partChannels), partChannels: partChannels,
                  outChannels: outChannels, alpha: alpha, binary: binary, height: height, width: width)
    }

    /// One (O, ΣC_p) weight tensor whose column blocks multiply the parts in order.
    public convenience init(weight: TensorRef, partChannels: [Int], outChannels: Int, alpha: Float, binary: Bool,
                            height: Int, width: Int) {
        self.init(parts: PartWeights([weight], partChannels: partChannels), partChannels: partChannels,
                  outChannels: outChannels, alpha: alpha, binary: binary, height: height, width: width)
    }

    private init(parts: PartWeights, partChannels: [Int], outChannels: Int, alpha: Float, binary: Bool, height: Int, width: Int) {
        self.parts = parts
        self.partChannels = partChannels
        self.outChannels = outChannels
        self.alpha = alpha
        self.binary = binary
        output = Activation(channels: outChannels, height: height, width: width)
    }

    public var weights: [TensorRef] { parts.tensors }

    /// Total input channels (the fan-in).
    public var inChannels: Int { partChannels.reduce(0, +) }

    public func forward(_ inputs: [Activation], weights store: WeightSource) {
        let n = inputs[0].n, hw = inputs[0].plane, o = outChannels
        output.resize(batch: n)
        for (p, x) in inputs.enumerated() {
            let w = store.forwardWeight(parts.tensors[p], binary: binary) + parts.columnOffsets[p]
            let cp = partChannels[p], ld = parts.rowLength[p]
            if hw == 1 {
                // (N, C) · Wᵀ as one GEMM.
                gemm(transposeB: true, m: n, n: o, k: cp, alpha: alpha, a: x.value.pointer, lda: cp,
                     b: w, ldb: ld, beta: p == 0 ? 0 : 1, c: output.value.pointer, ldc: o)
                continue
            }
            for img in 0..<n {
                gemm(m: o, n: hw, k: cp, alpha: alpha, a: w, lda: ld,
                     b: x.value.pointer + img * cp * hw, ldb: hw,
                     beta: p == 0 ? 0 : 1, c: output.value.pointer + img * o * hw, ldc: hw)
            }
        }
    }

    /// Accumulates dW into the latent gradients and dX into each input's `grad`.
    public func backward(_ inputs: [Activation], weights store: WeightSource) {
        let n = output.n, hw = output.plane, o = outChannels
        let dy = output.grad.pointer
        for (p, x) in inputs.enumerated() {
            let w = store.forwardWeight(parts.tensors[p], binary: binary) + parts.columnOffsets[p]
            let dw = store.parameters.gradient(parts.tensors[p]) + parts.columnOffsets[p]
            let cp = partChannels[p], ld = parts.rowLength[p]
            if hw == 1 {
                gemm(transposeA: true, m: o, n: cp, k: n, a: dy, lda: o, b: x.value.pointer, ldb: cp,
                     beta: 1, c: dw, ldc: ld)
                gemm(m: n, n: cp, k: o, alpha: alpha, a: dy, lda: o, b: w, ldb: ld,
                     beta: 1, c: x.grad.pointer, ldc: cp)
                continue
            }
            for img in 0..<n {
                let xi = x.value.pointer + img * cp * hw, dyi = dy + img * o * hw
                gemm(transposeB: true, m: o, n: cp, k: hw, a: dyi, lda: hw, b: xi, ldb: hw,
                     beta: 1, c: dw, ldc: ld)
                gemm(transposeA: true, m: cp, n: hw, k: o, alpha: alpha, a: w, lda: ld, b: dyi, ldb: hw,
                     beta: 1, c: x.grad.pointer + img * cp * hw, ldc: hw)
            }
        }
    }
}

/// The 1x1 weights of a channel concatenation's parts: one (O, C_p) tensor per part, or one
/// (O, ΣC_p) tensor whose column blocks belong to the parts in order.
public struct PartWeights {
    /// Part p's tensor (the same one for every part of a split weight).
    public let tensors: [TensorRef]
    /// Where part p's columns start in its tensor, and that tensor's row length.
    public let columnOffsets: [Int]
    public let rowLength: [Int]

    /// `weights` holds one tensor per part, or a single tensor to split by columns.
    public init(_ weights: [TensorRef], partChannels: [Int]) {
        if weights.count == partChannels.count {
            tensors = weights
            columnOffsets = Array(repeating: 0, count: weights.count)
            rowLength = partChannels
        } else {
            precondition(weights.count == 1, "a 1x1 conv over \(partChannels.count) parts needs one weight per part or one split weight")
            tensors = Array(repeating: weights[0], count: partChannels.count)
            var offsets: [Int] = [], start = 0
            for c in partChannels { offsets.append(start); start += c }
            columnOffsets = offsets
            rowLength = Array(repeating: start, count: partChannels.count)
        }
    }
}

/// The weights a forward pass multiplies with: the latent values for float layers, their signs
/// (±1, sign(0) = +1) for binarized ones. `refreshSigns()` recomputes the signs after each update.
public final class WeightSource {
    public let parameters: TensorStore
    private let signs = Buffer()
    /// Names the parameters' state since the last `refreshSigns()`: a layer that copies or
    /// encodes its forward weights redoes it only when this changed (evaluation batches reuse
    /// them). Drawn from one counter for the whole process, so no two sources, nor two states of
    /// one source, share a version.
    public private(set) var version = WeightSource.nextVersion()
    private static let versions = Atomic<Int>(0)
    private static func nextVersion() -> Int { versions.add(1, ordering: .relaxed).newValue }

    public init(parameters: TensorStore) {
        self.parameters = parameters
    }

    /// Recomputes sign(W) for every binary tensor; call once after the parameters change.
    public func refreshSigns() {
        version = Self.nextVersion()
        signs.ensure(count: parameters.count)
        for info in parameters.infos where info.binary {
            binarize(parameters.values.pointer + info.offset, into: signs.pointer + info.offset, count: info.count)
        }
    }

    @inline(__always)
    public func forwardWeight(_ t: TensorRef, binary: Bool) -> UnsafeMutablePointer<Float> {
        binary ? signs.pointer + t.offset : parameters.value(t)
    }
}

/// sign with sign(0) = +1, as a real ±1 (docs/MODEL.md section 7.1).
@inline(__always) public func binarize(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { dst[i] = src[i] >= 0 ? 1 : -1 }
}

/// The clipped straight-through estimator: cancels the gradient where |latent| > 1 (BNN-style).
/// The identity estimator needs no call.
public func applyClippedSTE(latent: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count where abs(latent[i]) > 1 { gradient[i] = 0 }
}
