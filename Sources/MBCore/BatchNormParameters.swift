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

/// running ← (1 − momentum)·running + momentum·batch, with the unbiased batch variance (PyTorch).
@inline(__always) func updateRunningStatistics(mean: Float, variance: Float, count m: Int,
                                               runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>) {
    let unbiased = m > 1 ? variance * Float(m) / Float(m - 1) : variance
    runningMean.pointee = (1 - BatchNorm.momentum) * runningMean.pointee + BatchNorm.momentum * mean
    runningVar.pointee = (1 - BatchNorm.momentum) * runningVar.pointee + BatchNorm.momentum * unbiased
}
