import MBCore

/// One layer use inside a clique block: BN-ReLU over the concatenated inputs → 1x1 conv to c →
/// BN-ReLU → modulated 3x3 (c → c), each BN-ReLU fused into the conv after it.
struct CliqueLayer {
    let squeeze: FusedConv1x1Layer
    let conv: ModulatedConvLayer

    var output: Activation { conv.conv.output }
    var midNorm: PreActivation { conv.conv.preActivation! }
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
    /// Stage-II outputs `[X1(2), ..., XL(2)]`, the block's result.
    let stage2Outputs: [Activation]
    /// The block's steps in forward order: the filters' layouts, Stage-I, Stage-II.
    let planLayers: [NetworkLayer]

    init(name: String, input x0: Activation, width c: Int, layers L: Int, k: Int, size: Int,
         config: ModelConfig, net: NetworkState) {
        let a = x0.c, parameters = net.parameters, state = net.state
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

        func layer(stage: Int, i: Int, sources: [Int], inputs: [Activation]) -> CliqueLayer {
            let parts = inputs.map(\.c), fanIn = parts.reduce(0, +)
            let prefix = "\(name).stage\(stage).\(i)"
            let squeeze = BatchNormReLUConv1x1(normName: "\(prefix).bn1", weights: sources.map { w[$0][i]! }, partChannels: parts,
                                               outChannels: c, alpha: binary1x1 ? mcDonnellScale(fanIn: fanIn) : 1,
                                               binary: binary1x1, height: size, width: size, parameters: parameters, state: state)
            let mid = BatchNormParameters(name: "\(prefix).bn2", channels: c, parameters: parameters, state: state)
            let conv = ModulatedConv(filter: filters[i - 1], mfilter: shared, k: k, height: size, width: size,
                                     preActivation: PreActivation(norm: mid, partChannels: [c], height: size, width: size))
            return CliqueLayer(squeeze: FusedConv1x1Layer(squeeze, inputs: inputs, net: net),
                               conv: ModulatedConvLayer(conv, input: squeeze.output, net: net))
        }
        // Stage-I layer i reads [X0, X1..X(i-1)]; Stage-II layer i reads every other layer, ascending.
        var stage1: [CliqueLayer] = []
        for i in 1...L {
            stage1.append(layer(stage: 1, i: i, sources: Array(0..<i), inputs: [x0] + stage1.map(\.output)))
        }
        var stage2: [CliqueLayer] = []
        for i in 1...L {
            let sources = (1...L).filter { $0 != i }
            stage2.append(layer(stage: 2, i: i, sources: sources,
                                inputs: sources.map { l in l < i ? stage2[l - 1].output : stage1[l - 1].output }))
        }
        self.stage1 = stage1
        self.stage2 = stage2
        stage2Outputs = stage2.map(\.output)
        planLayers = filters.map { ModulatedFilterLayer($0, net: net) as NetworkLayer }
            + (stage1 + stage2).flatMap { [$0.squeeze as NetworkLayer, $0.conv] }
    }
}

/// Transition between blocks: BN-ReLU over Stage-II → 1x1 conv (L·c → L·c) (fused) → 2x2 average pool.
final class Transition {
    let conv: FusedConv1x1Layer
    let pool: AveragePoolLayer

    init(name: String, inputs s2: [Activation], size: Int, config: ModelConfig, net: NetworkState) {
        let binary = config.binarize.binarizes(.transition)
        let channels = s2.map(\.c).reduce(0, +)
        let norm = BatchNormParameters(name: "\(name).bn", channels: channels, parameters: net.parameters, state: net.state)
        let w = net.parameters.declare("\(name).conv.weight", shape: [channels, channels, 1, 1],
                                       group: ConvKind.transition.rawValue, binary: binary, isConvWeight: true)
        // The 1x1 conv reads the L Stage-II parts; its weight is one (Lc, Lc) tensor, split by columns.
        let fused = BatchNormReLUConv1x1(norm: norm, weights: [w], partChannels: s2.map(\.c), outChannels: channels,
                                         alpha: binary ? mcDonnellScale(fanIn: channels) : 1, binary: binary,
                                         height: size, width: size)
        conv = FusedConv1x1Layer(fused, inputs: s2, net: net)
        pool = AveragePoolLayer(input: fused.output)
    }

    var output: Activation { pool.pool.output }
    var planLayers: [NetworkLayer] { [conv, pool] }
}

/// Per-block head (docs/MODEL.md section 5): F = [X0, Stage-II] → (compression: BN-ReLU → 1x1 to ⌊f/2⌋,
/// fused) → BN-ReLU, whose outputs the network's global pooling reads into the block's slice of
/// the feature vector.
final class BlockPool {
    let compression: FusedConv1x1Layer?
    let norm: BatchNormLayer
    let featureChannels: Int
    /// F = [X0, Stage-II].
    let inputs: [Activation]

    init(name: String, inputs: [Activation], size: Int, config: ModelConfig, net: NetworkState) {
        let parameters = net.parameters, state = net.state
        let partChannels = inputs.map(\.c)
        let f = partChannels.reduce(0, +)
        self.inputs = inputs
        let normInputs: [Activation]
        if config.compression {
            let binary = config.binarize.binarizes(.compression)
            let cnorm = BatchNormParameters(name: "\(name).compress.bn", channels: f, parameters: parameters, state: state)
            let w = parameters.declare("\(name).compress.conv.weight", shape: [f / 2, f, 1, 1],
                                       group: ConvKind.compression.rawValue, binary: binary, isConvWeight: true)
            let fused = BatchNormReLUConv1x1(norm: cnorm, weights: [w], partChannels: partChannels, outChannels: f / 2,
                                             alpha: binary ? mcDonnellScale(fanIn: f) : 1, binary: binary,
                                             height: size, width: size)
            compression = FusedConv1x1Layer(fused, inputs: inputs, net: net)
            normInputs = [fused.output]
        } else {
            compression = nil
            normInputs = inputs
        }
        featureChannels = normInputs.map(\.c).reduce(0, +)
        let bn = BatchNorm(name: "\(name).bn", partChannels: normInputs.map(\.c), height: size, width: size, relu: true,
                           parameters: parameters, state: state, gradientPool: net.gradientPool)
        norm = BatchNormLayer(bn, inputs: normInputs, kind: .batchNorm, net: net)
    }

    var planLayers: [NetworkLayer] { (compression.map { [$0 as NetworkLayer] } ?? []) + [norm] }
}
