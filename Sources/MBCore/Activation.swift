/// A feature map (N, C, H, W) with its gradient, owned by the layer that produces it and reused
/// across steps. Consumers *accumulate* into `grad`; the model zeroes all grads once per backward.
public final class Activation {
    public private(set) var n = 0
    public let c: Int
    public let h: Int
    public let w: Int
    public let value = Buffer()   // (N, C, H, W)
    public let grad = Buffer()    // (N, C, H, W)

    public init(channels: Int, height: Int, width: Int) {
        c = channels
        h = height
        w = width
    }

    public var plane: Int { h * w }
    public var perImage: Int { c * h * w }
    public var count: Int { n * c * h * w }

    /// Sets the batch size, growing the buffers if needed (a warm step allocates nothing).
    public func resize(batch: Int) {
        n = batch
        value.ensure(count: count)
    }

    public func prepareGradient() {
        grad.ensure(count: count)
        grad.zero(count: count)
    }
}
