import MBCore

/// The tensors every layer reads: parameters, BatchNorm running statistics, forward weights.
final class NetworkState {
    let parameters: TensorStore
    let state: TensorStore
    let weights: WeightSource
    /// The weight-gradient products of the 1x1 and modulated convs, one after the other.
    var gradientGEMM = WeightGradientGEMM(precision: .fp32)
    /// The shared gradient buffers of the outputs of the unfused BatchNorms (block pools).
    let gradientPool = GradientPool()

    init(parameters: TensorStore, state: TensorStore) {
        self.parameters = parameters
        self.state = state
        weights = WeightSource(parameters: parameters)
    }
}

/// The stem: a 3x3 conv of the image (no input gradient: the image is not learned).
final class StemLayer: NetworkLayer {
    let conv: Conv3x3
    let weight: TensorRef
    let alpha: Float
    let binary: Bool
    let input: Activation
    let output: Activation
    let inputs: [Activation]
    let outputs: [Activation]
    private let net: NetworkState

    init(input: Activation, outChannels: Int, weight: TensorRef, binary: Bool, net: NetworkState) {
        conv = Conv3x3(inChannels: input.c, outChannels: outChannels)
        self.weight = weight
        self.binary = binary
        alpha = binary ? mcDonnellScale(fanIn: 9 * input.c) : 1
        self.input = input
        output = Activation(channels: outChannels, height: input.h, width: input.w)
        inputs = [input]
        outputs = [output]
        self.net = net
    }

    var kind: KernelKind { .stem }
    var parameterTensors: [TensorRef] { [weight] }

    func forward(training: Bool) {
        conv.forward(input, weight: net.weights.forwardWeight(weight, binary: binary), alpha: alpha, into: output)
    }

    func backward() {
        conv.backward(input, weight: net.weights.forwardWeight(weight, binary: binary), alpha: alpha, output: output,
                      weightGradient: net.parameters.gradient(weight), inputGradient: false)
    }
}

/// A fused BN-ReLU-1x1 conv (`BatchNormReLUConv1x1`) over its input parts.
final class FusedConv1x1Layer: NetworkLayer {
    let conv: BatchNormReLUConv1x1
    let inputs: [Activation]
    let outputs: [Activation]
    private let net: NetworkState

    init(_ conv: BatchNormReLUConv1x1, inputs: [Activation], net: NetworkState) {
        self.conv = conv
        self.inputs = inputs
        outputs = [conv.output]
        self.net = net
    }

    var kind: KernelKind { .normConv1x1 }
    var parameterTensors: [TensorRef] { [conv.norm.gamma, conv.norm.beta] + uniqueTensors(conv.weights) }
    var normalizedInputs: [Activation] { inputs }
    var defersInputGradientTerms: Bool { true }

    func forward(training: Bool) {
        conv.forward(inputs, parameters: net.parameters, state: net.state, weights: net.weights, training: training)
    }

    func backward() { conv.backward(inputs, parameters: net.parameters, gradientGEMM: net.gradientGEMM) }
}

/// Rebuilds a layer's modulated filter layout from its latent weights each forward, and folds the
/// filter's accumulated gradient into the latent gradient once every use's backward has run.
final class ModulatedFilterLayer: NetworkLayer {
    let filter: ModulatedFilter
    private let net: NetworkState

    init(_ filter: ModulatedFilter, net: NetworkState) {
        self.filter = filter
        self.net = net
    }

    var kind: KernelKind { .modulated }
    var inputs: [Activation] { [] }
    var outputs: [Activation] { [] }
    var parameterTensors: [TensorRef] { [filter.latent] }

    func forward(training: Bool) { filter.prepare(parameters: net.parameters, version: net.weights.version) }
    func backward() { filter.foldGradient(parameters: net.parameters) }
}

/// One use of a modulated 3x3 conv, with its BN-ReLU fused in front.
final class ModulatedConvLayer: NetworkLayer {
    let conv: ModulatedConv
    let input: Activation
    let inputs: [Activation]
    let outputs: [Activation]
    private let net: NetworkState

    init(_ conv: ModulatedConv, input: Activation, net: NetworkState) {
        precondition(conv.preActivation != nil, "the network's modulated convs read a fused BN-ReLU")
        self.conv = conv
        self.input = input
        inputs = [input]
        outputs = [conv.output]
        self.net = net
    }

    var kind: KernelKind { .modulated }
    var parameterTensors: [TensorRef] { [conv.preActivation!.norm.gamma, conv.preActivation!.norm.beta, conv.mfilter] }
    var normalizedInputs: [Activation] { inputs }
    var defersInputGradientTerms: Bool { true }

    func forward(training: Bool) {
        conv.forward(input, parameters: net.parameters, state: net.state, training: training)
    }

    func backward() { conv.backward(input, parameters: net.parameters, gradientGEMM: net.gradientGEMM) }
}

final class AveragePoolLayer: NetworkLayer {
    let pool: AveragePool2x2
    let input: Activation
    let inputs: [Activation]
    let outputs: [Activation]

    init(input: Activation) {
        pool = AveragePool2x2(channels: input.c, inputHeight: input.h, inputWidth: input.w)
        self.input = input
        inputs = [input]
        outputs = [pool.output]
    }

    var kind: KernelKind { .pooling }
    var parameterTensors: [TensorRef] { [] }

    func forward(training: Bool) { pool.forward(input) }
    func backward() { pool.backward(input) }
}

/// An unfused BatchNorm (optionally with ReLU) over input parts, one output per part.
final class BatchNormLayer: NetworkLayer {
    let norm: BatchNorm
    let inputs: [Activation]
    let kind: KernelKind
    private let net: NetworkState

    init(_ norm: BatchNorm, inputs: [Activation], kind: KernelKind, net: NetworkState) {
        self.norm = norm
        self.inputs = inputs
        self.kind = kind
        self.net = net
    }

    var outputs: [Activation] { norm.outputs }
    var parameterTensors: [TensorRef] { [norm.gamma, norm.beta] }
    var normalizedInputs: [Activation] { inputs }

    func forward(training: Bool) {
        norm.forward(inputs, parameters: net.parameters, state: net.state, training: training)
    }

    func backward() { norm.backward(inputs, parameters: net.parameters) }
}

/// Global average pooling of parts into consecutive channels of the feature vector, from
/// `featureOffset` on. Its inputs' gradients live in shared buffers: it zeroes them before writing.
final class GlobalPoolLayer: NetworkLayer {
    let inputs: [Activation]
    let features: Activation
    let outputs: [Activation]
    let featureOffset: Int

    init(inputs: [Activation], into features: Activation, featureOffset: Int) {
        self.inputs = inputs
        self.features = features
        outputs = [features]
        self.featureOffset = featureOffset
    }

    var kind: KernelKind { .pooling }
    var parameterTensors: [TensorRef] { [] }

    func forward(training: Bool) {
        features.resize(batch: inputs[0].n)
        var offset = featureOffset
        for part in inputs {
            GlobalAveragePool(channelOffset: offset).forward(part, into: features)
            offset += part.c
        }
    }

    func backward() {
        var offset = featureOffset
        for part in inputs {
            part.prepareGradient()
            GlobalAveragePool(channelOffset: offset).backward(part, output: features)
            offset += part.c
        }
    }
}

/// The head's 1x1 conv of the feature vector into the class scores.
final class HeadConvLayer: NetworkLayer {
    let conv: Conv1x1
    let inputs: [Activation]
    let outputs: [Activation]
    private let net: NetworkState

    init(_ conv: Conv1x1, input: Activation, net: NetworkState) {
        self.conv = conv
        inputs = [input]
        outputs = [conv.output]
        self.net = net
    }

    var kind: KernelKind { .head }
    var parameterTensors: [TensorRef] { uniqueTensors(conv.weights) }

    func forward(training: Bool) { conv.forward(inputs, weights: net.weights) }
    func backward() { conv.backward(inputs, weights: net.weights) }
}

/// `tensors` without repeats, in first-seen order (a split weight lists its tensor once per part).
func uniqueTensors(_ tensors: [TensorRef]) -> [TensorRef] {
    var seen = Set<TensorRef>()
    return tensors.filter { seen.insert($0).inserted }
}

/// McDonnell's constant scale for a binarized conv, `sqrt(2 / fan_in)`, fan_in = kh·kw·C_in.
func mcDonnellScale(fanIn: Int) -> Float { (2 / Float(fanIn)).squareRoot() }
