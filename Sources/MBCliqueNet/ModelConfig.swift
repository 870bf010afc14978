import MBBase

/// Which convolutions use 1-bit weights (docs/MODEL.md section 7.4).
public enum BinarizeScope: String, CaseIterable, Sendable {
    /// Every conv: modulated 3x3s by `M ⊙ sign(C)`, all others by `sqrt(2/fan_in) · sign(W)` (default).
    case all
    /// Option (a): the stem and the head 1x1 stay in float32.
    case exceptStemHead = "except-stem-head"
    /// Option (b): only the in-block convs (1x1 and modulated 3x3).
    case block
    /// Option (c): only the modulated 3x3.
    case modulated
    /// Option (d): nothing; the modulated conv uses `Q = M ⊙ C` (u-MBCliqueNet).
    case none
}

/// The kinds of convolution in the network, for binarization choices and the summary.
public enum ConvKind: String, CaseIterable, Sendable {
    case stem, block1x1 = "block 1x1", modulated3x3 = "modulated 3x3", transition, compression, head
}

extension BinarizeScope {
    public func binarizes(_ kind: ConvKind) -> Bool {
        switch self {
        case .all: return true
        case .exceptStemHead: return kind != .stem && kind != .head
        case .block: return kind == .block1x1 || kind == .modulated3x3
        case .modulated: return kind == .modulated3x3
        case .none: return false
        }
    }
}

/// The n of the modulated conv's initialisation `N(0, 2/n)` (docs/MODEL.md section 8).
public enum InitFanIn: String, CaseIterable, Sendable {
    case nineC = "9c"
    case c
}

/// Everything that defines the network's shape and numerics. Defaults are the readings of
/// docs/MODEL.md section 11 (compression on, every conv 1-bit).
public struct ModelConfig: Equatable, Sendable {
    public var inChannels = 3
    public var imageSize = 32
    public var classes = 10
    public var widths = [64, 64, 128]
    public var layers = 4
    public var k = 4
    public var stemChannels = 64
    /// CliqueNet's compression (BN-ReLU-1x1 halving) before global pooling; off is the text-literal head.
    public var compression = true
    public var binarize = BinarizeScope.all
    /// Gradient cancelled where |latent| > 1 (BNN-style STE) instead of the identity STE.
    public var clipSTE = false
    public var initN = InitFanIn.nineC

    public init() {}

    /// Upper bounds of single keys, so that no size computed from them overflows; whether a model
    /// fits in memory is a separate check (`ModelFootprint`).
    public static let maxChannels = 65_536      // in_channels, stem_channels, each width
    public static let maxImageSize = 4_096
    public static let maxClasses = 1_000_000
    public static let maxLayers = 64
    public static let maxBlocks = 12

    /// Checks the combination; each message names the key and what is allowed.
    public func validate() throws -> Void {
        func fail(_ m: String) -> ModelConfigError { ModelConfigError(m) }
        func bound(_ key: String, _ value: Int, _ low: Int, _ high: Int) throws {
            if value < low { throw fail("`model.\(key)` is \(value); it must be at least \(low).") }
            if value > high { throw fail("`model.\(key)` is \(value); it must be at most \(high).") }
        }
        try bound("in_channels", inChannels, 1, Self.maxChannels)
        try bound("classes", classes, 2, Self.maxClasses)
        if widths.isEmpty { throw fail("`model.widths` is empty; give one width per block, e.g. [64, 64, 128].") }
        if widths.count > Self.maxBlocks {
            throw fail("`model.widths` lists \(widths.count) blocks; at most \(Self.maxBlocks) are allowed.")
        }
        if layers < 2 {
            throw fail("`model.layers` is \(layers); a clique block needs at least 2 layers (Stage-II layer i reads the other layers).")
        }
        try bound("layers", layers, 2, Self.maxLayers)
        try bound("k", k, 1, Self.maxChannels)
        try bound("stem_channels", stemChannels, 1, Self.maxChannels)
        try bound("image_size", imageSize, 1, Self.maxImageSize)
        for (b, c) in widths.enumerated() {
            if c < 1 { throw fail("`model.widths[\(b)]` is \(c); widths must be positive.") }
            if c > Self.maxChannels { throw fail("`model.widths[\(b)]` is \(c); it must be at most \(Self.maxChannels).") }
            if c % k != 0 {
                throw fail("`model.widths[\(b)]` = \(c) is not divisible by `model.k` = \(k); every block width must be a multiple of k.")
            }
        }
        let shrink = 1 << (widths.count - 1)
        if imageSize % shrink != 0 {
            throw fail("`model.image_size` is \(imageSize); with \(widths.count) blocks the \(widths.count - 1) transitions halve it, so it must be a positive multiple of \(shrink).")
        }
    }
}

/// A model configuration that does not make a network: the message names the key and what is allowed.
public struct ModelConfigError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }
