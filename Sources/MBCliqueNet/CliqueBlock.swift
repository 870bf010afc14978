import MBCore

/// One layer use inside a clique block: BN-ReLU over the concatenated inputs → 1x1 conv to c →
/// BN-ReLU → modulated 3x3 (c → c), each BN-ReLU fused into the conv after it.
final class CliqueLayer {
    let squeeze: BatchNormReLUConv1x1
    let conv: ModulatedConv

    init(squeeze: BatchNormReLUConv1x1, conv: ModulatedConv) {
        self.squeeze = squeeze
        self.conv = conv
    }

    var output: Activation { conv.output }
    var midNorm: PreActivation { conv.preActivation! }

    func forward(_ inputs: [Activation], _ net: NetworkState, training: Bool) {
        net.time(.normConv1x1) {
            squeeze.forward(inputs, parameters: net.parameters, state: net.state, weights: net.weights, training: training)
        }
        net.time(.modulated) { conv.forward(squeeze.output, parameters: net.parameters, state: net.state, training: training) }
    }

    /// Runs after every consumer of `output`: first adds their deferred BatchNorm terms into its
    /// gradient (and the modulated conv's into the squeeze output's, before the squeeze reads it).
    func backward(_ inputs: [Activation], _ net: NetworkState) {
        net.time(.normConv1x1) { output.statistics.applyGradientCorrection(to: output) }
        net.time(.modulated) {
            conv.backward(squeeze.output, parameters: net.parameters)
            squeeze.output.statistics.applyGradientCorrection(to: squeeze.output)
        }
        net.time(.normConv1x1) { squeeze.backward(inputs, parameters: net.parameters) }
    }

    /// The activations whose gradients persist through the backward pass (zeroed once per step).
    var activations: [Activation] { [squeeze.output, conv.output] }
}

/// The tensors every layer reads: parameters, BatchNorm running statistics, forward weights.
final class NetworkState {
    let parameters: TensorStore
    let state: TensorStore
    let weights: WeightSource

    /// Set by benchmarks to split the step's time by kernel kind.
    var profile: KernelProfile?
    /// The shared gradient buffers of the outputs of the unfused BatchNorms (block pools).
    let gradientPool = GradientPool()

    init(parameters: TensorStore, state: TensorStore) {
        self.parameters = parameters
        self.state = state
        weights = WeightSource(parameters: parameters)
    }

    enum KernelKind: String {
        case normConv1x1 = "BN-ReLU-1x1 (fused)", modulated = "modulated 3x3", batchNorm = "BatchNorm+ReLU", stem = "stem 3x3",
             pooling = "pooling", head = "head + loss", other = "other"
    }

    /// Set by the model around its forward and backward passes, to split the profile by pass.
    var pass = "forward"

    @inline(__always) func time<T>(_ kind: KernelKind, _ body: () -> T) -> T {
        if let profile { return profile.measure("\(kind.rawValue) \(pass)", body) }
        return body()
    }
}

/// A modulated binary clique block (docs/MODEL.md section 3): L layers, Stage-I then Stage-II, with the
/// 1x1 weights `W_li` and each layer's latent 3x3 filters shared by both stages, separate
/// BatchNorms per stage, and one M-filter shared by all 2L modulated convs of the block.
final class CliqueBlock {
    let inputChannels: Int   // a
    let width: Int           // c
    let layers: Int          // L
    let mfilter: TensorRef
    let filters: [ModulatedFilter]
    /// `w1x1[l][i]`: the weight W_li from source l (0 = X0, 1...L = layers) to layer i (1...L).
    let w1x1: [[TensorRef?]]
    let stage1: [CliqueLayer]
    let stage2: [CliqueLayer]
    /// X0, the block's input (the stem's or the previous transition's output).
    let input: Activation
    /// Each layer's input parts, fixed at construction so a pass allocates no lists.
    private let stage1Inputs: [[Activation]]
    private let stage2Inputs: [[Activation]]
    /// Stage-II outputs `[X1(2), ..., XL(2)]`, the block's result.
    let stage2Outputs: [Activation]

    init(name: String, input x0: Activation, width c: Int, layers L: Int, k: Int, size: Int,
         config: ModelConfig, parameters: TensorStore, state: TensorStore) {
        let a = x0.c
        input = x0
        inputChannels = a
        width = c
        layers = L
        let binary1x1 = config.binarize.binarizes(.block1x1)
        let binary3x3 = config.binarize.binarizes(.modulated3x3)
        var w = [[TensorRef?]](repeating: [TensorRef?](repeating: nil, count: L + 1), count: L + 1)
        for i in 1...L {
            for l in 0...L where l != i {
                w[l][i] = parameters.declare("\(name).conv1x1.\(l)_\(i).weight", shape: [c, l == 0 ? a : c, 1, 1],
                                             group: ConvKind.block1x1.rawValue, binary: binary1x1, isConvWeight: true)
            }
        }
        w1x1 = w
        var filters: [ModulatedFilter] = []
        for i in 1...L {
            let latent = parameters.declare("\(name).conv3x3.\(i).weight", shape: [c / k, c, 3, 3],
                                            group: ConvKind.modulated3x3.rawValue, binary: binary3x3, isConvWeight: true)
            filters.append(ModulatedFilter(latent: latent, filters: c / k, inChannels: c, binary: binary3x3))
        }
        self.filters = filters
        let shared = parameters.declare("\(name).mfilter", shape: [k, 3, 3], group: "M-filter")
        mfilter = shared

        func layer(stage: Int, i: Int, sources: [Int], parts: [Int]) -> CliqueLayer {
            let fanIn = parts.reduce(0, +)
            let prefix = "\(name).stage\(stage).\(i)"
            let squeeze = BatchNormReLUConv1x1(normName: "\(prefix).bn1", weights: sources.map { w[$0][i]! }, partChannels: parts,
                                               outChannels: c, alpha: binary1x1 ? mcDonnellScale(fanIn: fanIn) : 1,
                                               binary: binary1x1, height: size, width: size, parameters: parameters, state: state)
            let mid = BatchNormParameters(name: "\(prefix).bn2", channels: c, parameters: parameters, state: state)
            let conv = ModulatedConv(filter: filters[i - 1], mfilter: shared, k: k, height: size, width: size,
                                     preActivation: PreActivation(norm: mid, partChannels: [c], height: size, width: size))
            return CliqueLayer(squeeze: squeeze, conv: conv)
        }
        // Stage-I layer i reads [X0, X1..X(i-1)]; Stage-II layer i reads every other layer, ascending.
        let stage1 = (1...L).map { i in
            layer(stage: 1, i: i, sources: Array(0..<i), parts: [a] + Array(repeating: c, count: i - 1))
        }
        let stage2 = (1...L).map { i in
            let sources = (1...L).filter { $0 != i }
            return layer(stage: 2, i: i, sources: sources, parts: Array(repeating: c, count: sources.count))
        }
        self.stage1 = stage1
        self.stage2 = stage2
        stage1Inputs = (1...L).map { i in [x0] + stage1[0..<(i - 1)].map(\.output) }
        stage2Inputs = (1...L).map { i in
            (1...L).filter { $0 != i }.map { l in l < i ? stage2[l - 1].output : stage1[l - 1].output }
        }
        stage2Outputs = stage2.map(\.output)
    }

    func forward(_ net: NetworkState, training: Bool) {
        net.time(.modulated) { for f in filters { f.prepare(parameters: net.parameters) } }
        for i in 0..<layers { stage1[i].forward(stage1Inputs[i], net, training: training) }
        for i in 0..<layers { stage2[i].forward(stage2Inputs[i], net, training: training) }
    }

    /// Every consumer of a layer's output runs before its producer: Stage-II from the last layer
    /// down, then Stage-I from the last layer down. The block's other consumers (its pool, the
    /// next transition) must have run before; x0's deferred BatchNorm terms are added last, so
    /// they must also include the block pool's.
    func backward(_ net: NetworkState) {
        for i in (0..<layers).reversed() { stage2[i].backward(stage2Inputs[i], net) }
        for i in (0..<layers).reversed() { stage1[i].backward(stage1Inputs[i], net) }
        net.time(.modulated) { for f in filters { f.foldGradient(parameters: net.parameters) } }
        net.time(.normConv1x1) { input.statistics.applyGradientCorrection(to: input) }
    }

    /// Each pre-activation BN-ReLU with the inputs it reads (for tests that locate ReLU kinks).
    func preActivations() -> [(PreActivation, [Activation])] {
        Array(zip((stage1 + stage2).map(\.squeeze.input), stage1Inputs + stage2Inputs))
            + (stage1 + stage2).map { ($0.midNorm, [$0.squeeze.output]) }
    }

    var activations: [Activation] { (stage1 + stage2).flatMap(\.activations) }
}

/// McDonnell's constant scale for a binarized conv, `sqrt(2 / fan_in)`, fan_in = kh·kw·C_in.
func mcDonnellScale(fanIn: Int) -> Float { (2 / Float(fanIn)).squareRoot() }
