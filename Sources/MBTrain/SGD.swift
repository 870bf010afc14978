/// SGD with momentum on flat buffers, with PyTorch's semantics (`torch.optim.SGD`, no dampening,
/// no Nesterov):
///
///     g' = scale·g + wd·w;   v = μ·v + g';   w -= lr·v
///
/// PyTorch starts with no momentum buffer and sets v = g' on the first step; a velocity buffer
/// that starts at zero gives exactly that (μ·0 + g' = g'), so zero it once at initialisation.
/// Weight decay applies only to the element ranges in `decayed` (all parameters, or just the
/// latent conv weights); the rest get wd = 0.
public struct SGD {
    public var momentum: Float
    public var weightDecay: Float
    /// Element ranges of the parameter buffer that get weight decay; sorted, not overlapping.
    public let decayed: [Range<Int>]

    public init(momentum: Float, weightDecay: Float, decayed: [Range<Int>]) {
        precondition(zip(decayed, decayed.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound },
                     "weight-decay ranges must be sorted and must not overlap")
        precondition(decayed.allSatisfy { $0.lowerBound >= 0 }, "weight-decay ranges start at 0 or later")
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.decayed = decayed
    }

    /// One step over `count` parameters. `gradScale` multiplies the gradient first (1/world size
    /// after a summing allreduce).
    public func step(values: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                     velocity: UnsafeMutablePointer<Float>, count: Int, lr: Float, gradScale: Float = 1) {
        precondition(decayed.last.map { $0.upperBound <= count } ?? true, "a weight-decay range ends past the buffer")
        func update(_ range: Range<Int>, decay: Float) {
            for i in range {
                let g = gradScale * grads[i] + decay * values[i]
                let v = momentum * velocity[i] + g
                velocity[i] = v
                values[i] -= lr * v
            }
        }
        var start = 0
        for range in decayed {
            update(start..<range.lowerBound, decay: 0)
            update(range, decay: weightDecay)
            start = range.upperBound
        }
        update(start..<count, decay: 0)
    }
}
