import MBCore

/// Modulated Binary CliqueNet (docs/MODEL.md sections 2-5, compression on by default): stem 3x3 → clique blocks
/// with transitions between them → per-block (compression) BN-ReLU-GAP → concatenated vector →
/// 1x1 conv → BatchNorm → softmax cross-entropy.
///
/// All parameters live in `parameters` (one flat buffer, gradients in a parallel one), BatchNorm
/// running statistics in `state`. Activations and caches are owned by the layers and reused, so a
/// warm step allocates nothing.
public final class MBCliqueNet {
    public let config: ModelConfig
    public let parameters = TensorStore(withGradients: true)
    public let state = TensorStore(withGradients: false)
    let net: NetworkState

    let input: Activation
    let stemWeight: TensorRef
    let stemConv: Conv3x3
    let stemAlpha: Float
    let stemBinary: Bool
    let x0: Activation
    let blocks: [CliqueBlock]
    let transitions: [Transition]
    let pools: [BlockPool]
    let features: Activation        // (N, D, 1, 1): the concatenated pooled block vectors
    let headConv: Conv1x1
    let headNorm: BatchNorm
    private let headConvInputs: [Activation]   // [features]
    private let headNormInputs: [Activation]   // [headConv.output]
    let loss: SoftmaxCrossEntropy
    private var allActivations: [Activation] = []
    /// The feature maps read by fused BN-ReLU-1x1 layers (their producers add the deferred terms).
    private var normalizedActivations: [Activation] = []

    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        net = NetworkState(parameters: parameters, state: state)
        let binaryStem = config.binarize.binarizes(.stem)
        var size = config.imageSize
        input = Activation(channels: config.inChannels, height: size, width: size)
        stemWeight = parameters.declare("stem.weight", shape: [config.stemChannels, config.inChannels, 3, 3],
                                        group: ConvKind.stem.rawValue, binary: binaryStem, isConvWeight: true)
        stemConv = Conv3x3(inChannels: config.inChannels, outChannels: config.stemChannels)
        stemBinary = binaryStem
        stemAlpha = binaryStem ? mcDonnellScale(fanIn: 9 * config.inChannels) : 1
        x0 = Activation(channels: config.stemChannels, height: size, width: size)

        var blocks: [CliqueBlock] = [], transitions: [Transition] = [], pools: [BlockPool] = []
        var blockInput = x0
        var featureOffset = 0
        for (b, c) in config.widths.enumerated() {
            let block = CliqueBlock(name: "blocks.\(b)", input: blockInput, width: c, layers: config.layers, k: config.k,
                                    size: size, config: config, parameters: parameters, state: state)
            blocks.append(block)
            let pool = BlockPool(name: "pools.\(b)", inputs: [blockInput] + block.stage2Outputs,
                                 size: size, featureOffset: featureOffset, config: config,
                                 parameters: parameters, state: state, pool: net.gradientPool)
            pools.append(pool)
            featureOffset += pool.featureChannels
            if b < config.widths.count - 1 {
                let t = Transition(name: "transitions.\(b)", channels: config.layers * c, layers: config.layers,
                                   size: size, config: config, parameters: parameters, state: state)
                transitions.append(t)
                size /= 2
                blockInput = t.output
            }
        }
        self.blocks = blocks
        self.transitions = transitions
        self.pools = pools
        let d = featureOffset
        features = Activation(channels: d, height: 1, width: 1)
        let binaryHead = config.binarize.binarizes(.head)
        let headWeight = parameters.declare("head.conv.weight", shape: [config.classes, d, 1, 1],
                                            group: ConvKind.head.rawValue, binary: binaryHead, isConvWeight: true)
        headConv = Conv1x1(weights: [headWeight], partChannels: [d], outChannels: config.classes,
                           alpha: binaryHead ? mcDonnellScale(fanIn: d) : 1, binary: binaryHead, height: 1, width: 1)
        headNorm = BatchNorm(name: "head.bn", partChannels: [config.classes], height: 1, width: 1, relu: false,
                             parameters: parameters, state: state)
        headConvInputs = [features]
        headNormInputs = [headConv.output]
        loss = SoftmaxCrossEntropy(classes: config.classes)
        parameters.allocate()
        state.allocate()
        allActivations = [x0] + blocks.flatMap(\.activations) + transitions.flatMap(\.activations)
            + pools.flatMap(\.activations) + [features, headConv.output]
        normalizedActivations = [x0] + transitions.map(\.output)
            + blocks.flatMap { ($0.stage1 + $0.stage2).flatMap { [$0.output, $0.squeeze.output] } }
        precondition(allActivations.allSatisfy { !$0.sharesGradient }, "pooled gradients are zeroed by their consumers")
    }

    /// Attach a profile to split forward/backward time by kernel kind (benchmarks); nil to detach.
    public var profile: KernelProfile? {
        get { net.profile }
        set { net.profile = newValue }
    }

    /// Calls `body` with every BN-ReLU output of the last forward, whose sign pattern locates the
    /// ReLU kinks (for tests); the fused ones are recomputed image by image.
    func forEachReLUOutput(_ body: (UnsafePointer<Float>, Int) -> Void) {
        for (b, block) in blocks.enumerated() {
            var fused = block.preActivations()
            if b < transitions.count { fused.append((transitions[b].conv.input, block.stage2Outputs)) }
            if let c = pools[b].compression { fused.append((c.input, pools[b].inputs)) }
            for (preActivation, inputs) in fused {
                for img in 0..<x0.n { body(preActivation.normalize(inputs, image: img), preActivation.channels * x0.plane) }
            }
            for part in pools[b].norm.outputs { body(part.value.pointer, part.count) }
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
        fill(stemWeight, std: he(9 * config.inChannels))
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
                layer.squeeze.norm.initialize(parameters: parameters, state: state)
                layer.midNorm.norm.initialize(parameters: parameters, state: state)
            }
        }
        for t in transitions {
            t.conv.norm.initialize(parameters: parameters, state: state)
            fill(t.conv.weights[0], std: he(t.conv.inChannels))
        }
        for p in pools {
            if let c = p.compression {
                c.norm.initialize(parameters: parameters, state: state)
                fill(c.weights[0], std: he(c.inChannels))
            }
            p.norm.initialize(parameters: parameters, state: state)
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

    /// The forward pass on `images` (N, C, H, W); returns the logits (N, classes), valid until the
    /// next forward. `training` selects batch statistics (and updates the running ones).
    @discardableResult
    public func forward(images: UnsafePointer<Float>, count n: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        net.pass = "forward"
        input.resize(batch: n)
        input.value.pointer.update(from: images, count: input.count)
        net.time(.stem) {
            stemConv.forward(input, weight: net.weights.forwardWeight(stemWeight, binary: stemBinary), alpha: stemAlpha, into: x0)
        }
        features.resize(batch: n)
        for (b, block) in blocks.enumerated() {
            block.forward(net, training: training)
            pools[b].forward(into: features, net, training: training)
            if b < transitions.count { transitions[b].forward(block.stage2Outputs, net, training: training) }
        }
        net.time(.head) {
            headConv.forward(headConvInputs, weights: net.weights)
            headNorm.forward(headNormInputs, parameters: parameters, state: state, training: training)
        }
        return headNorm.outputs[0].value.pointer
    }

    /// Mean cross-entropy of the last forward's logits against `labels`, with top-1/top-5 counts.
    public func loss(labels: UnsafePointer<Int32>, gradient: Bool = false) -> SoftmaxCrossEntropy.Result {
        let logits = headNorm.outputs[0]
        return loss.evaluate(logits: logits.value.pointer, labels: labels, count: logits.n, gradient: gradient)
    }

    /// Forward (training mode), loss and backward: accumulates dLoss/dθ into
    /// `parameters.gradients` (zero them first with `parameters.zeroGradients()`).
    @discardableResult
    public func trainStep(images: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int) -> SoftmaxCrossEntropy.Result {
        forward(images: images, count: n, training: true)
        net.pass = "backward"
        let result = net.time(.head) { loss(labels: labels, gradient: true) }
        backwardFromLoss()
        return result
    }

    /// Backward from the gradient of the last `loss(labels:gradient: true)`.
    public func backwardFromLoss() {
        backward(logitGradient: loss.logitGradient.pointer)
    }

    /// Backward from dLoss/dlogits (N, classes) after a training forward.
    public func backward(logitGradient: UnsafePointer<Float>) {
        net.pass = "backward"
        net.time(.other) { for a in allActivations { a.prepareGradient() } }
        let logits = headNorm.outputs[0]
        net.time(.head) {
            logits.prepareGradient()
            logits.grad.pointer.update(from: logitGradient, count: logits.count)
            headNorm.backward(headNormInputs, parameters: parameters)
            headConv.backward(headConvInputs, weights: net.weights)
        }
        for pool in pools { pool.backward(from: features, net) }
        for b in stride(from: blocks.count - 1, through: 0, by: -1) {
            blocks[b].backward(net)
            if b > 0 { transitions[b - 1].backward(blocks[b - 1].stage2Outputs, net) }
        }
        precondition(!normalizedActivations.contains { $0.statistics.hasPendingCorrection },
                     "a deferred BatchNorm gradient term was never applied")
        net.time(.stem) {
            stemConv.backward(input, weight: net.weights.forwardWeight(stemWeight, binary: stemBinary), alpha: stemAlpha,
                              output: x0, weightGradient: parameters.gradient(stemWeight), inputGradient: false)
        }
        if config.clipSTE {
            for info in parameters.infos where info.binary {
                applyClippedSTE(latent: parameters.values.pointer + info.offset,
                                gradient: parameters.gradients!.pointer + info.offset, count: info.count)
            }
        }
    }
}

/// Transition between blocks: BN-ReLU over Stage-II → 1x1 conv (L·c → L·c) (fused) → 2x2 average pool.
final class Transition {
    let conv: BatchNormReLUConv1x1
    let pool: AveragePool2x2

    init(name: String, channels: Int, layers: Int, size: Int, config: ModelConfig,
         parameters: TensorStore, state: TensorStore) {
        let binary = config.binarize.binarizes(.transition)
        let norm = BatchNormParameters(name: "\(name).bn", channels: channels, parameters: parameters, state: state)
        let w = parameters.declare("\(name).conv.weight", shape: [channels, channels, 1, 1],
                                   group: ConvKind.transition.rawValue, binary: binary, isConvWeight: true)
        // The 1x1 conv reads the L Stage-II parts; its weight is one (Lc, Lc) tensor, split by columns.
        conv = BatchNormReLUConv1x1(norm: norm, weights: [w], partChannels: Array(repeating: channels / layers, count: layers),
                                    outChannels: channels, alpha: binary ? mcDonnellScale(fanIn: channels) : 1, binary: binary,
                                    height: size, width: size)
        pool = AveragePool2x2(channels: channels, inputHeight: size, inputWidth: size)
    }

    var output: Activation { pool.output }

    func forward(_ s2: [Activation], _ net: NetworkState, training: Bool) {
        net.time(.normConv1x1) {
            conv.forward(s2, parameters: net.parameters, state: net.state, weights: net.weights, training: training)
        }
        net.time(.pooling) { pool.forward(conv.output) }
    }

    /// Runs after every consumer of `output` (the next block and its pool).
    func backward(_ s2: [Activation], _ net: NetworkState) {
        net.time(.pooling) { pool.backward(conv.output) }
        net.time(.normConv1x1) { conv.backward(s2, parameters: net.parameters) }
    }

    var activations: [Activation] { [conv.output, pool.output] }
}

/// Per-block head (docs/MODEL.md section 5): F = [X0, Stage-II] → (compression: BN-ReLU → 1x1 to ⌊f/2⌋,
/// fused) → BN-ReLU → global average pool into the block's slice of the feature vector.
final class BlockPool {
    let compression: BatchNormReLUConv1x1?
    let norm: BatchNorm
    let featureOffset: Int
    let featureChannels: Int

    /// F = [X0, Stage-II], and what the final BN-ReLU reads: F itself or its compression.
    let inputs: [Activation]
    private let normInputs: [Activation]

    init(name: String, inputs: [Activation], size: Int, featureOffset: Int, config: ModelConfig,
         parameters: TensorStore, state: TensorStore, pool: GradientPool) {
        let partChannels = inputs.map(\.c)
        let f = partChannels.reduce(0, +)
        self.inputs = inputs
        self.featureOffset = featureOffset
        if config.compression {
            let binary = config.binarize.binarizes(.compression)
            let cnorm = BatchNormParameters(name: "\(name).compress.bn", channels: f, parameters: parameters, state: state)
            let w = parameters.declare("\(name).compress.conv.weight", shape: [f / 2, f, 1, 1],
                                       group: ConvKind.compression.rawValue, binary: binary, isConvWeight: true)
            compression = BatchNormReLUConv1x1(norm: cnorm, weights: [w], partChannels: partChannels, outChannels: f / 2,
                                               alpha: binary ? mcDonnellScale(fanIn: f) : 1, binary: binary,
                                               height: size, width: size)
            featureChannels = f / 2
            norm = BatchNorm(name: "\(name).bn", partChannels: [f / 2], height: size, width: size, relu: true,
                             parameters: parameters, state: state, gradientPool: pool)
        } else {
            compression = nil
            featureChannels = f
            norm = BatchNorm(name: "\(name).bn", partChannels: partChannels, height: size, width: size, relu: true,
                             parameters: parameters, state: state, gradientPool: pool)
        }
        normInputs = compression.map { [$0.output] } ?? inputs
    }

    func forward(into features: Activation, _ net: NetworkState, training: Bool) {
        if let c = compression {
            net.time(.normConv1x1) {
                c.forward(inputs, parameters: net.parameters, state: net.state, weights: net.weights, training: training)
            }
        }
        net.time(.batchNorm) {
            norm.forward(normInputs, parameters: net.parameters, state: net.state, training: training)
        }
        net.time(.pooling) {
            var offset = featureOffset
            for part in norm.outputs {
                GlobalAveragePool(channelOffset: offset).forward(part, into: features)
                offset += part.c
            }
        }
    }

    func backward(from features: Activation, _ net: NetworkState) {
        net.time(.pooling) {
            var offset = featureOffset
            for part in norm.outputs {
                part.prepareGradient()
                GlobalAveragePool(channelOffset: offset).backward(part, output: features)
                offset += part.c
            }
        }
        net.time(.batchNorm) { norm.backward(normInputs, parameters: net.parameters) }
        if let c = compression {
            net.time(.normConv1x1) { c.backward(inputs, parameters: net.parameters) }
        }
    }

    var activations: [Activation] { compression.map { [$0.output] } ?? [] }
}
