import MBCliqueNet

extension ModelConfig {
    /// Reads the `model:` section.
    public init(section s: ConfigSection) throws {
        self.init()
        inChannels = try s.int("in_channels", default: inChannels, min: 1)
        imageSize = try s.int("image_size", default: imageSize, min: 1)
        classes = try s.int("classes", default: classes, min: 2)
        widths = try s.intList("widths", default: widths, min: 1)
        layers = try s.int("layers", default: layers)
        k = try s.int("k", default: k, min: 1)
        stemChannels = try s.int("stem_channels", default: stemChannels, min: 1)
        compression = try s.bool("compression", default: compression)
        // `binarize: false` is the unbinarized u-MBCliqueNet; `true` is every conv.
        let scopes = BinarizeScope.allCases.map(\.rawValue) + ["true", "false"]
        let b = try s.string("binarize", default: binarize.rawValue, allowed: scopes)
        binarize = b == "true" ? .all : b == "false" ? .none : BinarizeScope(rawValue: b)!
        clipSTE = try s.bool("clip_ste", default: clipSTE)
        initN = try s.choice("init_n", default: initN)
        try s.finish()
        do { try validate() } catch let e as ModelConfigError { throw ConfigError(e.message) }
    }
}
