import MBRowKernels

/// Gradient buffers shared by the outputs of many layers whose gradients are never alive at the
/// same time (part p of every pooled layer uses buffer p). A whole MBCliqueNet then holds the
/// BatchNorm-output gradients of one layer instead of all of them.
public final class GradientPool {
    private var buffers: [Buffer] = []

    public init() {}

    public func buffer(_ slot: Int) -> Buffer {
        while buffers.count <= slot { buffers.append(Buffer()) }
        return buffers[slot]
    }
}

/// BatchNorm over the channels of one or more parts, optionally fused with ReLU.
///
/// The parts are the pieces of a channel concatenation that is never materialised: BatchNorm is
/// per channel, so normalising `[A, B]` is normalising A with the first channels' statistics and
/// B with the rest. Each part gets its own output. Training uses batch statistics (biased
/// variance) and updates the running ones (unbiased variance, momentum 0.1); evaluation uses the
/// running statistics. PyTorch's `BatchNorm2d` semantics, eps 1e-5.
public final class BatchNorm {
    public let partChannels: [Int]
    public let channels: Int
    public let relu: Bool
    public let norm: BatchNormParameters
    public let outputs: [Activation]
    public static let eps: Float = 1e-5
    public static let momentum: Float = 0.1

    /// Declares γ, β (in `parameters`) and the running statistics (in `state`) under `name`.
    /// With `gradientPool`, the outputs' gradients live in the pool's shared buffers: the consumer
    /// zeroes them (`prepareGradient()`) right before writing, and this layer's backward reads
    /// them at once, so no two layers' output gradients are alive at the same time.
    public init(name: String, partChannels: [Int], height: Int, width: Int, relu: Bool,
                parameters: TensorStore, state: TensorStore, gradientPool: GradientPool? = nil) {
        self.partChannels = partChannels
        channels = partChannels.reduce(0, +)
        self.relu = relu
        norm = BatchNormParameters(name: name, channels: channels, parameters: parameters, state: state)
        outputs = partChannels.indices.map { part in
            Activation(channels: partChannels[part], height: height, width: width, sharedGradient: gradientPool?.buffer(part))
        }
    }

    public var gamma: TensorRef { norm.gamma }
    public var beta: TensorRef { norm.beta }
    public var runningMean: TensorRef { norm.runningMean }
    public var runningVar: TensorRef { norm.runningVar }

    /// γ = 1, β = 0, running mean 0, running variance 1.
    public func initialize(parameters: TensorStore, state: TensorStore) {
        norm.initialize(parameters: parameters, state: state)
    }

    /// Training mode takes each input's batch statistics (`Activation.statistics`, computed
    /// before this call and shared with every other BatchNorm that reads the map) and updates the
    /// running ones.
    public func forward(_ inputs: [Activation], parameters: TensorStore, state: TensorStore, training: Bool) {
        precondition(inputs.count == partChannels.count)
        let g = parameters.value(gamma), b = parameters.value(beta)
        let rm = state.value(runningMean), rv = state.value(runningVar)
        var channelBase = 0
        for (part, x) in inputs.enumerated() {
            precondition(x.c == partChannels[part])
            let y = outputs[part]
            y.resize(batch: x.n)
            let hw = x.plane, n = x.n, cp = x.c
            for ch in 0..<cp {
                let gc = channelBase + ch
                var mu: Float, istd: Float
                if training {
                    mu = x.statistics.mean.pointer[ch]
                    istd = x.statistics.invStd.pointer[ch]
                    updateRunningStatistics(mean: mu, variance: x.statistics.variance.pointer[ch], count: n * hw,
                                            runningMean: rm + gc, runningVar: rv + gc)
                } else {
                    mu = rm[gc]
                    istd = 1 / (rv[gc] + BatchNorm.eps).squareRoot()
                }
                // (x − μ)·scale + β: subtracting μ first keeps precision when |μ| ≫ σ.
                let scale = g[gc] * istd
                for img in 0..<n {
                    let o = (img * cp + ch) * hw
                    affine(x.value.pointer + o, into: y.value.pointer + o, count: hw, mean: mu, scale: scale, shift: b[gc], relu: relu)
                }
            }
            channelBase += cp
        }
    }

    /// Accumulates into each input's `grad` and into dγ, dβ, from the outputs' `grad`.
    /// Must follow a training forward on the same inputs (it reads their statistics).
    public func backward(_ inputs: [Activation], parameters: TensorStore) {
        let g = parameters.value(gamma)
        let dg = parameters.gradient(gamma), db = parameters.gradient(beta)
        var channelBase = 0
        for (part, x) in inputs.enumerated() {
            let y = outputs[part]
            let hw = x.plane, n = x.n, cp = x.c
            let m = Float(n * hw)
            for ch in 0..<cp {
                let gc = channelBase + ch
                let mu = x.statistics.mean.pointer[ch], istd = x.statistics.invStd.pointer[ch]
                // Σ dz and Σ dz·x̂, with dz = dy masked by the ReLU.
                var sumDz = 0.0, sumDzXhat = 0.0
                for img in 0..<n {
                    let o = (img * cp + ch) * hw
                    let (s1, s2) = reluGradientSums(dy: y.grad.pointer + o, y: y.value.pointer + o,
                                                    x: x.value.pointer + o, count: hw, mean: mu, relu: relu)
                    sumDz += Double(s1)
                    sumDzXhat += Double(s2)
                }
                let sdz = Float(sumDz), sdzx = Float(sumDzXhat) * istd
                db[gc] += sdz
                dg[gc] += sdzx
                // dx = γ·istd·(dz − Σdz/M − x̂·Σ(dz·x̂)/M)
                let k = g[gc] * istd
                let meanDz = sdz / m, meanDzXhat = sdzx / m
                // dx = k·dz − k·istd·meanDzXhat·(x − μ) − k·meanDz.
                let b = -k * istd * meanDzXhat, c = -k * meanDz
                for img in 0..<n {
                    let o = (img * cp + ch) * hw
                    accumulateInputGradient(dy: y.grad.pointer + o, y: y.value.pointer + o, x: x.value.pointer + o,
                                            into: x.grad.pointer + o, count: hw, mean: mu, a: k, b: b, c: c, relu: relu)
                }
            }
            channelBase += cp
        }
    }
}

// The row loops run in the widest build of `MBRowKernels` this CPU runs (the same bits in each).

@inline(__always) func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float { RowKernels.forThisCPU.sum(p, n) }

@inline(__always) func rowSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ mu: Float) -> Float {
    RowKernels.forThisCPU.squaredDeviation(p, n, mu)
}

/// dst = (src − mean)·scale + shift, then ReLU if asked.
@inline(__always) public func affine(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count n: Int,
                                     mean: Float, scale: Float, shift: Float, relu: Bool) {
    RowKernels.forThisCPU.affine(src, dst, n, mean, scale, shift, relu)
}

/// (Σ dz, Σ dz·(x − mean)) over one row, dz = dy where y > 0 (or everywhere without ReLU).
@inline(__always) func reluGradientSums(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                        count n: Int, mean: Float, relu: Bool) -> (Float, Float) {
    RowKernels.forThisCPU.reluGradientSums(dy, y, x, n, mean, relu)
}

/// dx += a·dz + b·(x − mean) + c, dz = dy masked by the ReLU.
@inline(__always) func accumulateInputGradient(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                               into dx: UnsafeMutablePointer<Float>, count n: Int, mean: Float,
                                               a: Float, b: Float, c: Float, relu: Bool) {
    RowKernels.forThisCPU.accumulateInputGradient(dy, y, x, dx, n, mean, a, b, c, relu)
}
