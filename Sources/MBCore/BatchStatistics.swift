import MBRowKernels

/// The batch mean and variance of one feature map, per channel, shared by every BatchNorm that
/// reads the map.
///
/// In a clique block each feature map feeds several pre-activation BN-ReLU-1x1 layers, each with
/// its own γ and β but the same batch statistics (they depend only on the map). The network
/// computes them once per training forward, in a step of its plan right after the map's producer
/// (`compute`); every BatchNorm that reads the map in training mode uses them.
public final class BatchStatistics {
    public let mean = Buffer()       // (C)
    public let variance = Buffer()   // (C), biased
    public let invStd = Buffer()     // (C), 1 / sqrt(variance + eps)

    init() {}

    /// The statistics of `x` over its batch and plane (two passes: mean, then squared deviations,
    /// which keeps precision when |μ| ≫ σ).
    public func compute(_ x: Activation) {
        let c = x.c, hw = x.plane, n = x.n
        mean.ensure(count: c)
        variance.ensure(count: c)
        invStd.ensure(count: c)
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
    }
}

/// The per-channel terms of a feature map's BatchNorm input gradients that its consumers leave to
/// be added in one pass.
///
/// A BatchNorm's input gradient is `a·dz + b·(x − μ) + c` per channel, where only `a·dz` depends
/// on the consumer's ReLU mask; `b` and `c` are per-channel constants. A fused consumer
/// (`PreActivation`) adds its `a·dz` at once and its `b`, `c` here. The network's backward plan
/// then runs `apply` once, after the map's last consumer and before its producer: that adds
/// `B·(x − μ) + C`, with B and C summed over the consumers, and starts the sums again.
public final class DeferredBatchNormTerms {
    private let slope: Buffer   // (C): Σ b over consumers
    private let shift: Buffer   // (C): Σ c over consumers

    init(channels: Int) {
        slope = Buffer(count: channels)
        shift = Buffer(count: channels)
    }

    /// One consumer's terms for `channel`.
    func add(channel: Int, slope b: Float, shift c: Float) {
        slope.pointer[channel] += b
        shift.pointer[channel] += c
    }

    /// `x.grad += B·(x − μ) + C` with μ the batch mean of the training forward, then zero sums.
    public func apply(to x: Activation) {
        let c = x.c, hw = x.plane, mean = x.statistics.mean.pointer
        for img in 0..<x.n {
            for ch in 0..<c {
                let o = (img * c + ch) * hw
                addLinear(x.value.pointer + o, into: x.grad.pointer + o, count: hw, mean: mean[ch],
                          slope: slope.pointer[ch], shift: shift.pointer[ch])
            }
        }
        slope.zero()
        shift.zero()
    }
}

/// dx += slope·(x − mean) + shift.
@inline(__always) func addLinear(_ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count n: Int,
                                 mean: Float, slope: Float, shift: Float) {
    RowKernels.forThisCPU.addLinear(x, dx, n, mean, slope, shift)
}
