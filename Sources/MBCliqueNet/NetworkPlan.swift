import MBCore

/// One layer of the network, bound at construction to the feature maps it reads and writes.
/// Its forward and backward are a pair: the backward reads what the last training forward left
/// in the layer (its named caches) and *accumulates* into parameter and input gradients.
protocol NetworkLayer: AnyObject {
    var kind: KernelKind { get }
    var inputs: [Activation] { get }
    var outputs: [Activation] { get }
    /// The inputs whose batch statistics this layer's BatchNorm reads in training mode.
    var normalizedInputs: [Activation] { get }
    /// The parameters whose gradients its backward accumulates into.
    var parameterTensors: [TensorRef] { get }
    /// True when the backward leaves part of its normalized inputs' gradients in their
    /// `deferredTerms` instead of adding it at once (the fused BN-ReLU layers).
    var defersInputGradientTerms: Bool { get }
    func forward(training: Bool)
    func backward()
}

extension NetworkLayer {
    var normalizedInputs: [Activation] { [] }
    var defersInputGradientTerms: Bool { false }
}

/// What a step computes, to split a benchmark profile.
enum KernelKind: String {
    case normConv1x1 = "BN-ReLU-1x1 (fused)", modulated = "modulated 3x3", batchNorm = "BatchNorm+ReLU", stem = "stem 3x3",
         pooling = "pooling", head = "head + loss", statistics = "batch statistics", deferredTerms = "deferred BN terms"
}

enum Pass: String {
    case forward, backward
}

/// The network as data: its layers in forward order, and the two step lists derived from them.
///
/// - Forward runs each layer; in training mode, right after the producer of a feature map that
///   some BatchNorm reads, a step computes that map's batch statistics (once, for all readers).
/// - Backward runs the layers in reverse. Right before the producer of a map whose readers defer
///   BatchNorm gradient terms comes the step that adds those terms: every reader comes later in
///   the forward order, so its backward has already run.
///
/// The order is in these lists, built once and checked here at construction (every input is
/// produced by an earlier layer; a normalized map has one producer), not in the layers.
final class NetworkPlan {
    enum Step {
        case layer(NetworkLayer)
        /// Training forward only: `map.statistics` from the map's values.
        case batchStatistics(Activation)
        /// Backward only: add the readers' deferred terms into `map.grad`.
        case deferredTerms(Activation)
    }

    let input: Activation
    let forwardSteps: [Step]
    let backwardSteps: [Step]
    /// For each backward step, the parameters whose gradients are complete once it has run: those
    /// it is the last (in backward order) to accumulate into.
    let completedGradients: [[TensorRef]]
    /// The layer outputs whose gradients persist through a backward pass, zeroed at its start
    /// (outputs with a shared gradient buffer are zeroed by their reader instead).
    let accumulatedGradients: [Activation]
    /// Attached by benchmarks to split the time by kernel kind and pass; nil costs nothing.
    var profile: KernelProfile?

    init(input: Activation, layers: [NetworkLayer]) {
        var producers: [ObjectIdentifier: Int] = [ObjectIdentifier(input): 0]
        var normalized = Set<ObjectIdentifier>(), deferred = Set<ObjectIdentifier>()
        var outputs: [Activation] = []
        for layer in layers {
            for x in layer.inputs {
                precondition(producers[ObjectIdentifier(x)] != nil, "a layer reads a feature map that no earlier layer produces")
            }
            for x in layer.normalizedInputs {
                normalized.insert(ObjectIdentifier(x))
                if layer.defersInputGradientTerms { deferred.insert(ObjectIdentifier(x)) }
            }
            for y in layer.outputs {
                if producers[ObjectIdentifier(y)] == nil { outputs.append(y) }
                producers[ObjectIdentifier(y), default: 0] += 1
            }
        }
        precondition(normalized.allSatisfy { producers[$0] == 1 }, "a feature map read by a BatchNorm must have one producer")
        precondition(!normalized.contains(ObjectIdentifier(input)), "the network input is not normalized by a BatchNorm")
        self.input = input
        forwardSteps = layers.flatMap { layer in
            [.layer(layer)] + layer.outputs.filter { normalized.contains(ObjectIdentifier($0)) }.map(Step.batchStatistics)
        }
        backwardSteps = layers.reversed().flatMap { layer in
            layer.outputs.filter { deferred.contains(ObjectIdentifier($0)) }.map(Step.deferredTerms) + [.layer(layer)]
        }
        accumulatedGradients = outputs.filter { !$0.sharesGradient }
        var completed = [[TensorRef]](repeating: [], count: backwardSteps.count)
        var seen = Set<TensorRef>()
        for (index, step) in backwardSteps.enumerated().reversed() {
            guard case .layer(let layer) = step else { continue }
            for t in layer.parameterTensors where seen.insert(t).inserted { completed[index].append(t) }
        }
        completedGradients = completed
    }

    var layers: [NetworkLayer] {
        forwardSteps.compactMap { if case .layer(let l) = $0 { return l } else { return nil } }
    }

    func forward(training: Bool) {
        for step in forwardSteps {
            switch step {
            case .layer(let layer):
                time(layer.kind, .forward) { layer.forward(training: training) }
            case .batchStatistics(let map):
                if training { time(.statistics, .forward) { map.statistics.compute(map) } }
            case .deferredTerms:
                preconditionFailure("deferred terms are a backward step")
            }
        }
    }

    /// Zeroes the accumulated gradients, sets `output`'s gradient to `gradient`, and runs the
    /// backward steps. Follows a training forward. After each step, `stepDone` gets the
    /// parameters whose gradients that step completed (often none).
    func backward(from output: Activation, gradient: UnsafePointer<Float>, stepDone: ([TensorRef]) -> Void) {
        for map in accumulatedGradients { map.prepareGradient() }
        output.grad.pointer.update(from: gradient, count: output.count)
        for (step, completed) in zip(backwardSteps, completedGradients) {
            defer { stepDone(completed) }
            switch step {
            case .layer(let layer):
                time(layer.kind, .backward) { layer.backward() }
            case .deferredTerms(let map):
                time(.deferredTerms, .backward) { map.deferredTerms.apply(to: map) }
            case .batchStatistics:
                preconditionFailure("batch statistics are a forward step")
            }
        }
    }

    @inline(__always) private func time(_ kind: KernelKind, _ pass: Pass, _ body: () -> Void) {
        guard let profile else { return body() }
        profile.measure("\(kind.rawValue) \(pass.rawValue)", body)
    }
}
