import MBCore

/// The reference route for the modulated conv: build `Q[i·k+j] = M[j] ⊙ B[i]` (M broadcast over
/// input channels), then an ordinary 3x3 convolution. Backward folds dQ into
/// `dB[i] = Σ_j M[j] ⊙ dQ[i·k+j]` and `dM[j] = Σ_i Σ_ch B[i] ⊙ dQ[i·k+j]`. Kept as the test oracle
/// and the benchmark's baseline for the factored `ModulatedConv`.
public final class NaiveModulatedConv {
    public let filters: Int
    public let inChannels: Int
    public let k: Int
    public let output: Activation
    private let conv: Conv3x3
    private let q = Buffer()    // (O, C, 3, 3)
    private let dq = Buffer()   // (O, C, 3, 3)

    public init(filters: Int, inChannels: Int, k: Int, height: Int, width: Int) {
        self.filters = filters
        self.inChannels = inChannels
        self.k = k
        output = Activation(channels: filters * k, height: height, width: width)
        conv = Conv3x3(inChannels: inChannels, outChannels: filters * k)
        q.ensure(count: filters * k * inChannels * 9)
        dq.ensure(count: filters * k * inChannels * 9)
    }

    /// `b`: the (O', C, 3, 3) binary (or latent) filters; `m`: the (k, 3, 3) M-filter.
    public func forward(_ x: Activation, b: UnsafePointer<Float>, m: UnsafePointer<Float>) {
        for i in 0..<filters {
            for j in 0..<k {
                let qo = q.pointer + (i * k + j) * inChannels * 9
                for ch in 0..<inChannels {
                    for t in 0..<9 { qo[ch * 9 + t] = m[j * 9 + t] * b[(i * inChannels + ch) * 9 + t] }
                }
            }
        }
        conv.forward(x, weight: q.pointer, into: output)
    }

    /// Accumulates dX into `x.grad`, dB into `db` (O', C, 3, 3) and dM into `dm` (k, 3, 3).
    public func backward(_ x: Activation, b: UnsafePointer<Float>, m: UnsafePointer<Float>,
                         db: UnsafeMutablePointer<Float>, dm: UnsafeMutablePointer<Float>) {
        dq.zero()
        conv.backward(x, weight: q.pointer, output: output, weightGradient: dq.pointer, inputGradient: true)
        for i in 0..<filters {
            for j in 0..<k {
                let dqo = dq.pointer + (i * k + j) * inChannels * 9
                for ch in 0..<inChannels {
                    for t in 0..<9 {
                        db[(i * inChannels + ch) * 9 + t] += m[j * 9 + t] * dqo[ch * 9 + t]
                        dm[j * 9 + t] += b[(i * inChannels + ch) * 9 + t] * dqo[ch * 9 + t]
                    }
                }
            }
        }
    }
}
