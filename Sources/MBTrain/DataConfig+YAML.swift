import MBCliqueNet
import MBData

extension DataConfig {
    /// Reads the `data:` section.
    public init(section s: ConfigSection) throws {
        self.init()
        dataset = try s.choice("dataset", default: dataset)
        root = try s.string("root", default: root)
        flip = try s.bool("flip", default: flip)
        cropPadding = try s.int("crop_padding", default: cropPadding, min: 0, max: ModelConfig.maxImageSize)
        mean = try optionalDoubles(s, "mean", positive: false)
        std = try optionalDoubles(s, "std", positive: true)
        guard (mean == nil) == (std == nil) else {
            throw ConfigError("`data.mean` and `data.std` go together: give both (one value per channel, 0-1 scale) or neither (computed from the training split).")
        }
        cifar100Labels = try s.choice("cifar100_labels", default: cifar100Labels)
        svhnExtra = try s.bool("svhn_extra", default: svhnExtra)
        if s.has("classes") || dataset == .synthetic {
            guard dataset == .tinyImageNet || dataset == .synthetic else {
                throw ConfigError("`data.classes` applies to tiny-imagenet (classes drawn) and synthetic (class count) only; remove it for \(dataset.rawValue).")
            }
            classes = try s.int("classes", default: 10, min: 2, max: ModelConfig.maxClasses)
        }
        classSeed = UInt64(try s.int("class_seed", default: Int(classSeed), min: 0, max: TrainingConfig.maxSeed))
        syntheticShape = try s.intList("synthetic_shape", default: syntheticShape, min: 1, max: ModelConfig.maxChannels)
        guard syntheticShape.count == 3 else {
            throw ConfigError("`data.synthetic_shape` is \(syntheticShape); expected [channels, height, width], e.g. [3, 32, 32].")
        }
        syntheticTrainCount = try s.int("synthetic_train_count", default: syntheticTrainCount, min: 1)
        syntheticTestCount = try s.int("synthetic_test_count", default: syntheticTestCount, min: 1)
        evalBatch = try s.int("eval_batch", default: evalBatch, min: 1)
        trainLimit = try s.int("train_limit", default: trainLimit, min: 0)
        testLimit = try s.int("test_limit", default: testLimit, min: 0)
        try s.finish()
    }
}

/// A list of numbers that may be absent or null (recorded as `~`, which reads back as absent).
private func optionalDoubles(_ s: ConfigSection, _ key: String, positive: Bool) throws -> [Double]? {
    let absent: Bool
    switch s.raw(key) {
    case nil: absent = true
    case .scalar(let text)?: absent = ["", "~", "null"].contains(text)
    default: absent = false
    }
    if absent {
        s.record(key, .scalar("~"))
        return nil
    }
    let values = try s.doubleList(key, default: [])
    if positive, let bad = values.first(where: { $0 <= 0 }) {
        throw ConfigError("`\(s.name(key))` contains \(bad); every value must be above 0.")
    }
    guard !values.isEmpty else { throw ConfigError("`\(s.name(key))` is empty; give one value per channel.") }
    return values
}
