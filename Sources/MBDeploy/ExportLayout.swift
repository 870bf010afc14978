import MBCliqueNet

/// The tensors of an exported model of one configuration: names, kinds and shapes, and where
/// each layer use reads them (docs/FORMATS.md, "1-bit export").
///
/// Per block b (input X0 with `a` channels, width c, L layers):
/// - `blocks.b.conv1x1`: (L, c, a + (L−1)c), layer i's 1x1 weights from every source in
///   ascending order (X0, then layers 1...L without i). Stage-I layer i reads its first
///   a + (i−1)c columns, Stage-II layer i its last (L−1)c.
/// - `blocks.b.bn1`: (2, N), the pre-activation (scale; shift) of every 1x1 use, Stage-I
///   layers 1...L then Stage-II layers 1...L, each over its input channels.
/// - `blocks.b.bn2`: (2, 2, L, c), the BatchNorm after each 1x1 use (stage, layer) folded with
///   the conv's scale: relu(scale·P + shift), P the ±1 product.
/// - `blocks.b.conv3x3`: (L, c/k, c, 3, 3), the latent 3x3 filters; `blocks.b.mfilter` (k, 3, 3).
public struct ExportLayout {
    public let config: ModelConfig

    public init(config: ModelConfig) { self.config = config }

    /// How a weight is stored: packed signs (U8) when binarized, else F32.
    public enum WeightKind { case signs, float }

    public struct Weight {
        public let name: String      // without the `.signs` / `.weight` suffix
        public let shape: [Int]      // the logical shape
        public let kind: WeightKind
        public var count: Int { shape.reduce(1, *) }
        public var tensorName: String { name + (kind == .signs ? ".signs" : ".weight") }
        /// Packed: ⌈count/8⌉ bytes; float: the logical shape.
        public var storedShape: [Int] { kind == .signs ? [(count + 7) / 8] : shape }
    }

    /// A BatchNorm reduced to (scale; shift) rows: (2, channels...).
    public struct Norm {
        public let name: String
        public let shape: [Int]      // including the leading 2
    }

    public func kind(_ conv: ConvKind) -> WeightKind { config.binarize.binarizes(conv) ? .signs : .float }

    /// Channels of block b's input X0.
    public func inputChannels(block b: Int) -> Int { b == 0 ? config.stemChannels : config.layers * config.widths[b - 1] }

    /// Spatial side of block b's feature maps.
    public func side(block b: Int) -> Int { config.imageSize >> b }

    /// Channels of block b's F = [X0, Stage-II].
    public func poolInput(block b: Int) -> Int { inputChannels(block: b) + config.layers * config.widths[b] }

    /// Channels block b adds to the pooled feature vector.
    public func poolOutput(block b: Int) -> Int { config.compression ? poolInput(block: b) / 2 : poolInput(block: b) }

    public var features: Int { config.widths.indices.map { poolOutput(block: $0) }.reduce(0, +) }

    /// The input channels of Stage-I (stage 1) or Stage-II (stage 2) layer i (1...L) of block b.
    public func fanIn(block b: Int, stage: Int, layer i: Int) -> Int {
        let a = inputChannels(block: b), c = config.widths[b], L = config.layers
        return stage == 1 ? a + (i - 1) * c : (L - 1) * c
    }

    /// The first column of layer i's 1x1 weight that a use reads (its columns are contiguous).
    public func firstColumn(block b: Int, stage: Int) -> Int { stage == 1 ? 0 : inputChannels(block: b) }

    /// Where a use's (scale; shift) start in `blocks.b.bn1`'s rows.
    public func bn1Offset(block b: Int, stage: Int, layer i: Int) -> Int {
        var offset = 0
        for s in 1...2 {
            for j in 1...config.layers {
                if s == stage && j == i { return offset }
                offset += fanIn(block: b, stage: s, layer: j)
            }
        }
        preconditionFailure("no layer \(i) in stage \(stage)")
    }

    public func bn1Channels(block b: Int) -> Int {
        (1...2).flatMap { s in (1...config.layers).map { fanIn(block: b, stage: s, layer: $0) } }.reduce(0, +)
    }

    public var stem: Weight {
        Weight(name: "stem", shape: [config.stemChannels, config.inChannels, 3, 3], kind: kind(.stem))
    }

    public func conv1x1(block b: Int) -> Weight {
        let c = config.widths[b], L = config.layers
        return Weight(name: "blocks.\(b).conv1x1", shape: [L, c, inputChannels(block: b) + (L - 1) * c], kind: kind(.block1x1))
    }

    public func conv3x3(block b: Int) -> Weight {
        let c = config.widths[b]
        return Weight(name: "blocks.\(b).conv3x3", shape: [config.layers, c / config.k, c, 3, 3], kind: kind(.modulated3x3))
    }

    public func mfilter(block b: Int) -> String { "blocks.\(b).mfilter" }
    public func bn1(block b: Int) -> Norm { Norm(name: "blocks.\(b).bn1", shape: [2, bn1Channels(block: b)]) }
    public func bn2(block b: Int) -> Norm { Norm(name: "blocks.\(b).bn2", shape: [2, 2, config.layers, config.widths[b]]) }

    public func transitionNorm(_ b: Int) -> Norm { Norm(name: "transitions.\(b).bn", shape: [2, config.layers * config.widths[b]]) }
    public func transitionConv(_ b: Int) -> Weight {
        let n = config.layers * config.widths[b]
        return Weight(name: "transitions.\(b).conv", shape: [n, n], kind: kind(.transition))
    }

    public func compressNorm(_ b: Int) -> Norm { Norm(name: "pools.\(b).compress.bn", shape: [2, poolInput(block: b)]) }
    public func compressConv(_ b: Int) -> Weight {
        Weight(name: "pools.\(b).compress.conv", shape: [poolInput(block: b) / 2, poolInput(block: b)], kind: kind(.compression))
    }
    public func poolNorm(_ b: Int) -> Norm { Norm(name: "pools.\(b).bn", shape: [2, poolOutput(block: b)]) }

    public var head: Weight { Weight(name: "head.conv", shape: [config.classes, features], kind: kind(.head)) }
    public var headNorm: Norm { Norm(name: "head.bn", shape: [2, config.classes]) }

    public var weights: [Weight] {
        var all = [stem]
        for b in config.widths.indices {
            all += [conv1x1(block: b), conv3x3(block: b)]
            if b < config.widths.count - 1 { all.append(transitionConv(b)) }
            if config.compression { all.append(compressConv(b)) }
        }
        return all + [head]
    }

    public var norms: [Norm] {
        var all: [Norm] = []
        for b in config.widths.indices {
            all += [bn1(block: b), bn2(block: b)]
            if b < config.widths.count - 1 { all.append(transitionNorm(b)) }
            if config.compression { all.append(compressNorm(b)) }
            all.append(poolNorm(b))
        }
        return all + [headNorm]
    }

    /// Every tensor of the file with its dtype and stored shape.
    public var tensors: [(name: String, dtype: String, shape: [Int])] {
        weights.map { ($0.tensorName, $0.kind == .signs ? "U8" : "F32", $0.storedShape) }
            + norms.map { ($0.name, "F32", $0.shape) }
            + config.widths.indices.map { (mfilter(block: $0), "F32", [config.k, 3, 3]) }
    }
}
