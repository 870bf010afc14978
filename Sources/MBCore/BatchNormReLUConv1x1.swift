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
    private var gatheredVersion: Int?           // the `WeightSource.version` concatenatedWeight holds

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

    /// Gathers the forward weight of every part into the (O, ΣC_p) matrix, unless it holds them
    /// already.
    private func gatherWeights(_ store: WeightSource) {
        if gatheredVersion == store.version { return }
        gatheredVersion = store.version
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
    /// `gradientGEMM` computes dW's products, in its precision.
    public func backward(_ inputs: [Activation], parameters: TensorStore, gradientGEMM: WeightGradientGEMM) {
        let n = output.n, hw = output.plane, o = outChannels, total = inChannels
        weightGradient.zero(count: o * total)
        input.beginBackward()
        for img in 0..<n {
            let dy = output.grad.pointer + img * o * hw
            let y = input.normalize(inputs, image: img)
            gradientGEMM.add(m: o, n: total, k: hw, dy: dy, ldy: hw, x: y, ldx: hw, into: weightGradient.pointer, ldw: total)
            concatenatedWeight.multiplyTransposed(dy, ldx: hw, count: hw, alpha: alpha, into: inputGradient.pointer, ldy: hw)
            input.accumulateInputGradient(inputs, image: img, from: inputGradient.pointer)
        }
        gradientGEMM.finish()
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
