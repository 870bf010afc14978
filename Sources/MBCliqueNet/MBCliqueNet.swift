import MBCore

/// Modulated Binary CliqueNet (docs/MODEL.md sections 2-5, compression on by default): stem 3x3 → clique blocks
/// with transitions between them → per-block (compression) BN-ReLU-GAP → concatenated vector →
/// 1x1 conv → BatchNorm → softmax cross-entropy.
///
/// All parameters live in `parameters` (one flat buffer, gradients in a parallel one), BatchNorm
/// running statistics in `state`. The layers are recorded at construction in a `NetworkPlan`,
/// which runs the forward steps and, reversed, the backward steps (docs/ARCHITECTURE.md).
/// Activations and caches are owned by the layers and reused, so a warm step allocates nothing.
public final class MBCliqueNet {
    public let config: ModelConfig
    public let parameters = TensorStore(withGradients: true)
    public let state = TensorStore(withGradients: false)
    let net: NetworkState
    let plan: NetworkPlan

    let input: Activation
    let stem: StemLayer
    let blocks: [CliqueBlock]
    let transitions: [Transition]
    let pools: [BlockPool]
    let features: Activation        // (N, D, 1, 1): the concatenated pooled block vectors
    let headConv: Conv1x1
    let headNorm: BatchNorm
    let loss: SoftmaxCrossEntropy

    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        let net = NetworkState(parameters: parameters, state: state)
        self.net = net
        var size = config.imageSize
        input = Activation(channels: config.inChannels, height: size, width: size)
        let binaryStem = config.binarize.binarizes(.stem)
        let stemWeight = parameters.declare("stem.weight", shape: [config.stemChannels, config.inChannels, 3, 3],
                                            group: ConvKind.stem.rawValue, binary: binaryStem, isConvWeight: true)
        stem = StemLayer(input: input, outChannels: config.stemChannels, weight: stemWeight, binary: binaryStem, net: net)

        var blocks: [CliqueBlock] = [], transitions: [Transition] = [], pools: [BlockPool] = []
        var blockInput = stem.output
        for (b, c) in config.widths.enumerated() {
            let block = CliqueBlock(name: "blocks.\(b)", input: blockInput, width: c, layers: config.layers, k: config.k,
                                    size: size, config: config, net: net)
            blocks.append(block)
            pools.append(BlockPool(name: "pools.\(b)", inputs: [blockInput] + block.stage2Outputs, size: size,
                                   config: config, net: net))
            if b < config.widths.count - 1 {
                let t = Transition(name: "transitions.\(b)", inputs: block.stage2Outputs, size: size, config: config, net: net)
                transitions.append(t)
                size /= 2
                blockInput = t.output
            }
        }
        self.blocks = blocks
        self.transitions = transitions
        self.pools = pools
        let d = pools.map(\.featureChannels).reduce(0, +)
        features = Activation(channels: d, height: 1, width: 1)
        let binaryHead = config.binarize.binarizes(.head)
        let headWeight = parameters.declare("head.conv.weight", shape: [config.classes, d, 1, 1],
                                            group: ConvKind.head.rawValue, binary: binaryHead, isConvWeight: true)
        headConv = Conv1x1(weights: [headWeight], partChannels: [d], outChannels: config.classes,
                           alpha: binaryHead ? mcDonnellScale(fanIn: d) : 1, binary: binaryHead, height: 1, width: 1)
        headNorm = BatchNorm(name: "head.bn", partChannels: [config.classes], height: 1, width: 1, relu: false,
                             parameters: parameters, state: state)
        loss = SoftmaxCrossEntropy(classes: config.classes)
        parameters.allocate()
        state.allocate()

        // Forward order: stem; per block its layers, its pool, its slice of the feature vector,
        // the transition to the next block; the head.
        var layers: [NetworkLayer] = [stem]
        var featureOffset = 0
        for b in blocks.indices {
            layers += blocks[b].planLayers + pools[b].planLayers
            layers.append(GlobalPoolLayer(inputs: pools[b].norm.outputs, into: features, featureOffset: featureOffset))
            featureOffset += pools[b].featureChannels
            if b < transitions.count { layers += transitions[b].planLayers }
        }
        layers.append(HeadConvLayer(headConv, input: features, net: net))
        layers.append(BatchNormLayer(headNorm, inputs: [headConv.output], kind: .head, net: net))
        plan = NetworkPlan(input: input, layers: layers)
        precondition(plan.completedGradients.joined().map(\.index).sorted() == Array(parameters.infos.indices),
                     "every parameter's gradient must be completed by exactly one backward step")
    }

    /// The arithmetic of the weight gradients of the 1x1 and modulated convs (fp32 by default);
    /// bf16 only where `GradientPrecision.bf16.runsOnThisCPU`.
    public var gradientPrecision: GradientPrecision {
        get { net.gradientGEMM.precision }
        set { net.gradientGEMM = WeightGradientGEMM(precision: newValue) }
    }

    /// Attach a profile to split forward/backward time by kernel kind (benchmarks); nil to detach.
    public var profile: KernelProfile? {
        get { plan.profile }
        set { plan.profile = newValue }
    }

    /// Calls `body` with every BN-ReLU output of the last forward, whose sign pattern locates the
    /// ReLU kinks (for tests); the fused ones are recomputed image by image.
    func forEachReLUOutput(_ body: (UnsafePointer<Float>, Int) -> Void) {
        for layer in plan.layers {
            let fused: (PreActivation, [Activation])?
            switch layer {
            case let l as FusedConv1x1Layer: fused = (l.conv.input, l.inputs)
            case let l as ModulatedConvLayer: fused = (l.conv.preActivation!, l.inputs)
            case let l as BatchNormLayer where l.norm.relu:
                for part in l.outputs { body(part.value.pointer, part.count) }
                fused = nil
            default: fused = nil
            }
            guard let (preActivation, inputs) = fused else { continue }
            for img in 0..<input.n {
                body(preActivation.normalize(inputs, image: img), preActivation.channels * inputs[0].plane)
            }
        }
    }

    /// Draws every parameter from `seed` (docs/MODEL.md section 8): modulated C and M ~ N(0, 2/n) with
    /// n = 9c (or c); every other conv weight ~ N(0, 2/fan_in) with fan_in from its first use;
    /// BatchNorm γ = 1, β = 0, running statistics 0 and 1.
    public func initialize(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        func fill(_ t: TensorRef, std: Double) {
            let p = parameters.value(t)
            for i in 0..<t.count { p[i] = Float(rng.normal() * std) }
        }
        func he(_ fanIn: Int) -> Double { (2 / Double(fanIn)).squareRoot() }
        fill(stem.weight, std: he(9 * config.inChannels))
        for block in blocks {
            let a = block.inputChannels, c = block.width, L = block.layers
            for i in 1...L {
                for l in 0...L where l != i {
                    // W_0i and W_li (l < i) first appear in Stage-I layer i; W_mi (m > i) in Stage-II.
                    fill(block.w1x1[l][i]!, std: he(l < i ? a + (i - 1) * c : (L - 1) * c))
                }
            }
            let n = config.initN == .nineC ? 9 * c : c
            for f in block.filters { fill(f.latent, std: he(n)) }
            fill(block.mfilter, std: he(n))
            for layer in block.stage1 + block.stage2 {
                layer.squeeze.conv.norm.initialize(parameters: parameters, state: state)
                layer.midNorm.norm.initialize(parameters: parameters, state: state)
            }
        }
        for t in transitions {
            t.conv.conv.norm.initialize(parameters: parameters, state: state)
            fill(t.conv.conv.weights[0], std: he(t.conv.conv.inChannels))
        }
        for p in pools {
            if let c = p.compression?.conv {
                c.norm.initialize(parameters: parameters, state: state)
                fill(c.weights[0], std: he(c.inChannels))
            }
            p.norm.norm.initialize(parameters: parameters, state: state)
        }
        fill(headConv.weights[0], std: he(features.c))
        headNorm.initialize(parameters: parameters, state: state)
        parametersChanged()
    }

    /// Recomputes the forward weights (signs) from the latent parameters; call after every update
    /// or load of `parameters`.
    public func parametersChanged() {
        net.weights.refreshSigns()
    }

    /// The logits of the last forward (N, classes).
    var logits: Activation { headNorm.outputs[0] }

    /// The forward pass on `images` (N, C, H, W); returns the logits (N, classes), valid until the
    /// next forward. `training` selects batch statistics (and updates the running ones).
    @discardableResult
    public func forward(images: UnsafePointer<Float>, count n: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        input.resize(batch: n)
        input.value.pointer.update(from: images, count: input.count)
        plan.forward(training: training)
        return logits.value.pointer
    }

    /// Mean cross-entropy of the last forward's logits against `labels`, with top-1/top-5 counts.
    public func loss(labels: UnsafePointer<Int32>, gradient: Bool = false) -> SoftmaxCrossEntropy.Result {
        loss.evaluate(logits: logits.value.pointer, labels: labels, count: logits.n, gradient: gradient)
    }

    /// Forward (training mode), loss and backward: accumulates dLoss/dθ into
    /// `parameters.gradients` (zero them first with `parameters.zeroGradients()`).
    @discardableResult
    public func trainStep(images: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int) -> SoftmaxCrossEntropy.Result {
        forward(images: images, count: n, training: true)
        let result = loss(labels: labels, gradient: true)
        backwardFromLoss()
        return result
    }

    /// Backward from the gradient of the last `loss(labels:gradient: true)`. After each backward
    /// step, `stepDone` gets the parameters whose gradients are now final (the gradient
    /// allreduce starts on them while backward goes on).
    public func backwardFromLoss(stepDone: ([TensorRef]) -> Void = { _ in }) {
        backward(logitGradient: loss.logitGradient.pointer, stepDone: stepDone)
    }

    /// Backward from dLoss/dlogits (N, classes) after a training forward: the plan's backward
    /// steps; the clipped straight-through estimator, if configured, is applied to each binary
    /// tensor's gradient as soon as it is complete, before `stepDone` hears of it.
    public func backward(logitGradient: UnsafePointer<Float>, stepDone: ([TensorRef]) -> Void = { _ in }) {
        plan.backward(from: logits, gradient: logitGradient) { completed in
            if config.clipSTE {
                for t in completed where parameters.infos[t.index].binary {
                    applyClippedSTE(latent: parameters.value(t), gradient: parameters.gradient(t), count: t.count)
                }
            }
            stepDone(completed)
        }
    }
}
