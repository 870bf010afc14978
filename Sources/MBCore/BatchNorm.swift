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
    public let gamma: TensorRef
    public let beta: TensorRef
    public let runningMean: TensorRef
    public let runningVar: TensorRef
    public let outputs: [Activation]
    public static let eps: Float = 1e-5
    public static let momentum: Float = 0.1

    // Cache of the last training forward, per channel.
    private var mean: [Float]
    private var invStd: [Float]

    /// Declares γ, β (in `parameters`) and the running statistics (in `state`) under `name`.
    public init(name: String, partChannels: [Int], height: Int, width: Int, relu: Bool,
                parameters: TensorStore, state: TensorStore) {
        self.partChannels = partChannels
        channels = partChannels.reduce(0, +)
        self.relu = relu
        gamma = parameters.declare("\(name).weight", shape: [channels], group: "BatchNorm")
        beta = parameters.declare("\(name).bias", shape: [channels], group: "BatchNorm")
        runningMean = state.declare("\(name).running_mean", shape: [channels], group: "BatchNorm")
        runningVar = state.declare("\(name).running_var", shape: [channels], group: "BatchNorm")
        outputs = partChannels.map { Activation(channels: $0, height: height, width: width) }
        mean = Array(repeating: 0, count: channels)
        invStd = Array(repeating: 0, count: channels)
    }

    /// γ = 1, β = 0, running mean 0, running variance 1.
    public func initialize(parameters: TensorStore, state: TensorStore) {
        parameters.value(gamma).update(repeating: 1, count: channels)
        parameters.value(beta).update(repeating: 0, count: channels)
        state.value(runningMean).update(repeating: 0, count: channels)
        state.value(runningVar).update(repeating: 1, count: channels)
    }

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
            let m = n * hw
            for ch in 0..<cp {
                let gc = channelBase + ch
                var mu: Float, istd: Float
                if training {
                    var sum = 0.0
                    for img in 0..<n { sum += Double(rowSum(x.value.pointer + (img * cp + ch) * hw, hw)) }
                    mu = Float(sum / Double(m))
                    var sq = 0.0
                    for img in 0..<n { sq += Double(rowSquaredDeviation(x.value.pointer + (img * cp + ch) * hw, hw, mu)) }
                    let variance = Float(sq / Double(m))
                    istd = 1 / (variance + BatchNorm.eps).squareRoot()
                    mean[gc] = mu
                    invStd[gc] = istd
                    let unbiased = m > 1 ? variance * Float(m) / Float(m - 1) : variance
                    rm[gc] = (1 - BatchNorm.momentum) * rm[gc] + BatchNorm.momentum * mu
                    rv[gc] = (1 - BatchNorm.momentum) * rv[gc] + BatchNorm.momentum * unbiased
                } else {
                    mu = rm[gc]
                    istd = 1 / (rv[gc] + BatchNorm.eps).squareRoot()
                }
                let scale = g[gc] * istd, shift = b[gc] - mu * scale
                for img in 0..<n {
                    let src = x.value.pointer + (img * cp + ch) * hw
                    let dst = y.value.pointer + (img * cp + ch) * hw
                    if relu {
                        for p in 0..<hw { dst[p] = max(src[p] * scale + shift, 0) }
                    } else {
                        for p in 0..<hw { dst[p] = src[p] * scale + shift }
                    }
                }
            }
            channelBase += cp
        }
    }

    /// Accumulates into each input's `grad` and into dγ, dβ, from the outputs' `grad`.
    /// Must follow a training forward on the same inputs.
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
                let mu = mean[gc], istd = invStd[gc]
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
                for img in 0..<n {
                    let o = (img * cp + ch) * hw
                    let dy = y.grad.pointer + o, yv = y.value.pointer + o
                    let xv = x.value.pointer + o, dx = x.grad.pointer + o
                    for p in 0..<hw {
                        let dz = (!relu || yv[p] > 0) ? dy[p] : 0
                        let xhat = (xv[p] - mu) * istd
                        dx[p] += k * (dz - meanDz - xhat * meanDzXhat)
                    }
                }
            }
            channelBase += cp
        }
    }
}

@inline(__always) func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var s: Float = 0
    for i in 0..<n { s += p[i] }
    return s
}

@inline(__always) func rowSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ mu: Float) -> Float {
    var s: Float = 0
    for i in 0..<n { let d = p[i] - mu; s += d * d }
    return s
}

/// (Σ dz, Σ dz·(x − mean)) over one row, dz = dy where y > 0 (or everywhere without ReLU).
@inline(__always) func reluGradientSums(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                        count: Int, mean: Float, relu: Bool) -> (Float, Float) {
    var s1: Float = 0, s2: Float = 0
    for p in 0..<count {
        let dz = (!relu || y[p] > 0) ? dy[p] : 0
        s1 += dz
        s2 += dz * (x[p] - mean)
    }
    return (s1, s2)
}
