import MBBase
import MBCliqueNet
import MBData

/// What one rank of a run will hold in memory, estimated from the configuration before anything is
/// allocated: the model and its training state, the activations of the rank's batch, the two
/// prefetched batches, the evaluation batch and (for synthetic data) the images.
public struct MemoryEstimate {
    public var parameters: Double
    public var activations: Double
    public var batches: Double
    public var data: Double
    let config: RunConfig
    let localBatch: Int

    /// The estimate for a rank training on `localBatch` images per step (0: the model and data
    /// alone, before the world size is known).
    public init(_ config: RunConfig, localBatch: Int) {
        self.config = config
        self.localBatch = localBatch
        let model = ModelFootprint(config.model)
        let imageFloats = Double(config.model.inChannels) * Double(config.model.imageSize) * Double(config.model.imageSize)
        parameters = model.parameterBytes
        activations = localBatch > 0 ? model.activationBytes(images: localBatch) : 0
        batches = 4 * imageFloats * (2 * Double(localBatch) + Double(config.data.evalBatch))
        let d = config.data
        data = d.dataset == .synthetic
            ? d.syntheticShape.map(Double.init).reduce(1, *) * (Double(d.syntheticTrainCount) + Double(d.syntheticTestCount)) : 0
    }

    public var total: Double { parameters + activations + batches + data }

    /// Throws a ConfigError giving the estimate and its parts when it exceeds `limit` bytes.
    public func check(limit: Double = MemoryLimit.bytesPerRank) throws {
        guard total > limit else { return }
        let gb = MemoryLimit.gigabytes
        let parts = [
            "model \(gb(parameters)) for \(String(format: "%.0f", ModelFootprint(config.model).parameters)) parameters",
            localBatch > 0 ? "activations \(gb(activations)) for \(localBatch) images" : nil,
            "batches \(gb(batches)) (data.eval_batch \(config.data.evalBatch))",
            config.data.dataset == .synthetic ? "synthetic images \(gb(data))" : nil,
        ].compactMap { $0 }
        throw ConfigError("this run needs an estimated \(gb(total)) per rank (\(parts.joined(separator: ", "))), more than the \(MemoryLimit.explained) allowed; lower model.widths, model.layers, model.image_size, optim.global_batch or data.eval_batch, or spread the run over more hosts.")
    }
}
