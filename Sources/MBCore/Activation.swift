/// A feature map (N, C, H, W) with its gradient, owned by the layer that produces it and reused
/// across steps. Consumers *accumulate* into `grad`; the model zeroes all grads once per backward.
/// A transient gradient (written by one consumer and read back at once by the producer) may live
/// in a buffer shared with other such gradients: then it is zeroed just before it is written.
public final class Activation {
    public private(set) var n = 0
    public let c: Int
    public let h: Int
    public let w: Int
    public let value = Buffer()   // (N, C, H, W)
    public let grad: Buffer       // (N, C, H, W)
    /// True when `grad` is a buffer shared with other transient gradients.
    public let sharesGradient: Bool
    /// Batch mean and variance per channel, shared by the BatchNorms that read this map (computed
    /// by whoever runs the forward: the network's plan, or a test).
    public let statistics = BatchStatistics()
    /// The BatchNorm input-gradient terms its fused consumers leave for one pass (see there).
    public let deferredTerms: DeferredBatchNormTerms

    public init(channels: Int, height: Int, width: Int, sharedGradient: Buffer? = nil) {
        c = channels
        h = height
        w = width
        grad = sharedGradient ?? Buffer()
        sharesGradient = sharedGradient != nil
        deferredTerms = DeferredBatchNormTerms(channels: channels)
    }

    public var plane: Int { h * w }
    public var perImage: Int { c * h * w }
    public var count: Int { n * c * h * w }

    /// Sets the batch size, growing the buffers if needed (a warm step allocates nothing). The
    /// producer calls it before writing `value`.
    public func resize(batch: Int) {
        n = batch
        value.ensure(count: count)
    }

    public func prepareGradient() {
        grad.ensure(count: count)
        grad.zero(count: count)
    }
}
