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

    /// Checks the combination; each message names the key and what is allowed.
    public func validate() throws -> Void {
        func fail(_ m: String) -> ModelConfigError { ModelConfigError(m) }
        if inChannels < 1 { throw fail("`model.in_channels` is \(inChannels); it must be at least 1.") }
        if classes < 2 { throw fail("`model.classes` is \(classes); it must be at least 2.") }
        if widths.isEmpty { throw fail("`model.widths` is empty; give one width per block, e.g. [64, 64, 128].") }
        if layers < 2 {
            throw fail("`model.layers` is \(layers); a clique block needs at least 2 layers (Stage-II layer i reads the other layers).")
        }
        if k < 1 { throw fail("`model.k` is \(k); it must be at least 1.") }
        if stemChannels < 1 { throw fail("`model.stem_channels` is \(stemChannels); it must be at least 1.") }
        for (b, c) in widths.enumerated() {
            if c < 1 { throw fail("`model.widths[\(b)]` is \(c); widths must be positive.") }
            if c % k != 0 {
                throw fail("`model.widths[\(b)]` = \(c) is not divisible by `model.k` = \(k); every block width must be a multiple of k.")
            }
        }
        let shrink = 1 << (widths.count - 1)
        if imageSize < 1 || imageSize % shrink != 0 {
            throw fail("`model.image_size` is \(imageSize); with \(widths.count) blocks the \(widths.count - 1) transitions halve it, so it must be a positive multiple of \(shrink).")
        }
    }
}

/// A model configuration that does not make a network: the message names the key and what is allowed.
public struct ModelConfigError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }
