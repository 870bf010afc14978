import Foundation
import MBBase
import MBCliqueNet
import MBCore
import MBData
import MBTrain

/// An exported model that cannot be used: one sentence naming the file, what is wrong and what
/// to do.
public struct ExportError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }

/// The deployable form of a trained MBCliqueNet, stored as safetensors (docs/FORMATS.md,
/// "1-bit export"): 1-bit weights as packed signs, BatchNorm reduced to per-channel
/// (scale; shift) and folded into the conv before it where one precedes it alone, M-filters and
/// float layers in F32, and metadata with everything inference needs (model config, class names,
/// input normalization, the training data section) plus a checksum over tensors and metadata.
public struct ExportedModel {
    public static let format = "mbc-export"
    public static let version = "1"
    public static let packing = "signs: element i of the flattened weight is bit i%8 (least significant first) of byte i/8; 1 = +1 (latent >= 0), 0 = -1"

    public let config: ModelConfig
    public let classNames: [String]
    public let normalization: Normalization
    /// The training run's `data:` section (YAML): where `eval --model` finds the test split.
    public let dataSection: String
    public let tensors: [String: SafeTensor]
    public var layout: ExportLayout { ExportLayout(config: config) }

    /// Folds a trained model's tensors (F32, by the checkpoint's names) into the exported form.
    public init(config: ModelConfig, trained: [String: SafeTensor], classNames: [String], normalization: Normalization,
                dataSection: String) throws {
        self.config = config
        self.classNames = classNames
        self.normalization = normalization
        self.dataSection = dataSection
        tensors = try Folding(config: config, trained: trained).tensors()
    }

    /// Reads and checks an exported file: format, version, checksum, metadata, and every tensor
    /// against the layout of its model config.
    public init(contentsOf path: String) throws {
        let file: SafeTensors
        do {
            file = try SafeTensors(contentsOf: path)
        } catch let e as SafeTensorsError {
            throw ExportError("cannot use exported model \(e.description)")
        }
        func refuse(_ why: String) -> ExportError { ExportError("exported model `\(path)` \(why)") }
        let m = file.metadata
        guard m["format"] == Self.format else {
            if m["format"] == Checkpoint.format {
                throw refuse("is a training checkpoint, not an export; evaluate it with `eval --checkpoint`, or export it with `mbc-train export --checkpoint \(path) --output FILE`.")
            }
            throw refuse("is not an exported mbc model (no `format: \(Self.format)` in its metadata); write one with `mbc-train export`.")
        }
        guard m["format_version"] == Self.version else {
            throw refuse("has format version \(m["format_version"] ?? "?"); this mbc reads version \(Self.version). Export it again with this mbc.")
        }
        guard m["checksum"] == file.checksum else {
            throw refuse("fails its checksum: its tensors or metadata were changed or damaged after export. Export it again.")
        }
        do {
            config = try ModelConfig(section: try ConfigSection(path: "model", value: try ConfigValue.parse(yaml: m["model"] ?? "", source: "model")))
        } catch let e as ConfigError {
            throw refuse("has an unusable `model` metadata entry (\(e.message)). Export it again.")
        }
        guard let names = (m["class_names"]?.data(using: .utf8)).flatMap({ try? JSONSerialization.jsonObject(with: $0) }) as? [String],
              names.count == config.classes else {
            throw refuse("lacks `class_names`, a JSON list of \(config.classes) names. Export it again.")
        }
        classNames = names
        guard let mean = Self.numbers(m["input_mean"]), let std = Self.numbers(m["input_std"]),
              mean.count == config.inChannels, std.count == config.inChannels, std.allSatisfy({ $0 > 0 }) else {
            throw refuse("lacks `input_mean` and `input_std`, JSON lists of \(config.inChannels) numbers (std above 0). Export it again.")
        }
        normalization = Normalization(mean: mean, std: std)
        dataSection = m["data"] ?? ""
        var problems: [String] = []
        let expected = ExportLayout(config: config).tensors
        for (name, dtype, shape) in expected {
            guard let t = file.tensors[name] else { problems.append("no `\(name)`"); continue }
            if t.dtype.rawValue != dtype || t.shape != shape {
                problems.append("`\(name)` is \(t.dtype.rawValue) \(t.shape), expected \(dtype) \(shape)")
            }
        }
        let extra = Set(file.tensors.keys).subtracting(expected.map(\.name)).sorted()
        if !extra.isEmpty { problems.append("unexpected \(extra.prefix(3).map { "`\($0)`" }.joined(separator: ", "))") }
        guard problems.isEmpty else {
            throw refuse("does not fit the model its metadata describes (widths \(config.widths), \(config.layers) layers, k = \(config.k), \(config.classes) classes): \(problems.prefix(3).joined(separator: "; ")). It was assembled from another model; export it again from its checkpoint.")
        }
        tensors = file.tensors
    }

    /// Writes the file atomically, metadata and checksum included.
    public func write(to path: String) throws {
        var file = SafeTensors(tensors: tensors, metadata: metadata)
        file.metadata["checksum"] = file.checksum
        try file.write(to: path)
    }

    var metadata: [String: String] {
        func json(_ object: Any) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        let shapes = Dictionary(uniqueKeysWithValues: layout.weights.filter { $0.kind == .signs }.map { ($0.tensorName, $0.shape) })
        return [
            "format": Self.format, "format_version": Self.version, "packing": Self.packing,
            "model": config.json, "class_names": json(classNames),
            // Swift's shortest round-trip decimal: the exact doubles training used.
            "input_mean": "[" + normalization.mean.map { "\($0)" }.joined(separator: ", ") + "]",
            "input_std": "[" + normalization.std.map { "\($0)" }.joined(separator: ", ") + "]",
            "signs_shapes": json(shapes), "data": dataSection,
        ]
    }

    /// `[a, b, ...]` as exact doubles, or nil.
    static func numbers(_ text: String?) -> [Double]? {
        guard let text, text.hasPrefix("["), text.hasSuffix("]") else { return nil }
        let values = text.dropFirst().dropLast().split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        return values.contains(nil) ? nil : values.map { $0! }
    }
}

extension ModelConfig {
    /// The model section as one JSON object with the config file's keys (also valid YAML).
    var json: String {
        "{\"in_channels\": \(inChannels), \"image_size\": \(imageSize), \"classes\": \(classes), "
            + "\"widths\": [\(widths.map(String.init).joined(separator: ", "))], \"layers\": \(layers), \"k\": \(k), "
            + "\"stem_channels\": \(stemChannels), \"compression\": \(compression), \"binarize\": \"\(binarize.rawValue)\", "
            + "\"clip_ste\": \(clipSTE), \"init_n\": \"\(initN.rawValue)\"}"
    }
}

/// The exported tensors computed from the trained ones. Every activation is stored without the
/// McDonnell scale α of the conv that produced it: a BatchNorm that reads it has α folded into
/// its scale, and a BatchNorm right after a conv (its only reader) becomes the conv's per-channel
/// output scale and shift.
struct Folding {
    let config: ModelConfig
    let trained: [String: SafeTensor]
    let layout: ExportLayout

    init(config: ModelConfig, trained: [String: SafeTensor]) {
        self.config = config
        self.trained = trained
        layout = ExportLayout(config: config)
    }

    func floats(_ name: String) throws -> [Float] {
        guard let values = trained[name]?.floats else { throw ExportError("the trained model has no F32 tensor `\(name)`.") }
        return values
    }

    /// McDonnell's sqrt(2/fan_in) for a binarized conv kind, 1 for a float one.
    func alpha(_ kind: ConvKind, fanIn: Int) -> Float { config.binarize.binarizes(kind) ? (2 / Float(fanIn)).squareRoot() : 1 }

    /// The α of the conv that produced block b's X0 (the stem or the previous transition).
    func inputAlpha(block b: Int) -> Float {
        b == 0 ? alpha(.stem, fanIn: 9 * config.inChannels) : alpha(.transition, fanIn: layout.inputChannels(block: b))
    }

    /// BatchNorm `prefix` in evaluation mode as y = scale·x + shift, with `factor(channel)` (the α
    /// of what it reads) folded into the scale: scale = α·γ/√(σ²+ε), shift = β − μ·γ/√(σ²+ε).
    func reduce(_ prefix: String, factor: (Int) -> Float) throws -> (scale: [Float], shift: [Float]) {
        let g = try floats(prefix + ".weight"), b = try floats(prefix + ".bias")
        let mu = try floats(prefix + ".running_mean"), v = try floats(prefix + ".running_var")
        var scale = [Float](), shift = [Float]()
        for c in g.indices {
            let s = g[c] * (1 / (v[c] + BatchNorm.eps).squareRoot())
            scale.append(s * factor(c))
            shift.append(b[c] - mu[c] * s)
        }
        return (scale, shift)
    }

    /// Packs `values` as signs: bit i%8 of byte i/8 is 1 where values[i] >= 0 (sign(0) = +1).
    static func pack(_ values: [Float]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (values.count + 7) / 8)
        for (i, v) in values.enumerated() where v >= 0 { bytes[i / 8] |= 1 << UInt8(i % 8) }
        return bytes
    }

    func weight(_ w: ExportLayout.Weight, _ values: [Float]) -> (String, SafeTensor) {
        precondition(values.count == w.count)
        return w.kind == .signs ? (w.tensorName, SafeTensor(shape: w.storedShape, uint8s: Self.pack(values)))
                                : (w.tensorName, SafeTensor(shape: w.shape, floats: values))
    }

    func norm(_ n: ExportLayout.Norm, _ rows: [(scale: [Float], shift: [Float])]) -> (String, SafeTensor) {
        let values = rows.flatMap(\.scale) + rows.flatMap(\.shift)
        precondition(values.count == n.shape.reduce(1, *))
        return (n.name, SafeTensor(shape: n.shape, floats: values))
    }

    func tensors() throws -> [String: SafeTensor] {
        var out: [String: SafeTensor] = [:]
        func put(_ entry: (String, SafeTensor)) { out[entry.0] = entry.1 }
        let L = config.layers
        put(weight(layout.stem, try floats("stem.weight")))
        for (b, c) in config.widths.enumerated() {
            let a = layout.inputChannels(block: b), x0Alpha = inputAlpha(block: b)
            // Layer i's 1x1 weights from every source, ascending, side by side.
            var full: [Float] = []
            for i in 1...L {
                let sources = [0] + (1...L).filter { $0 != i }
                let parts = try sources.map { try floats("blocks.\(b).conv1x1.\($0)_\(i).weight") }
                for r in 0..<c {
                    for (l, part) in zip(sources, parts) {
                        let width = l == 0 ? a : c
                        full += part[(r * width)..<((r + 1) * width)]
                    }
                }
            }
            put(weight(layout.conv1x1(block: b), full))
            put(weight(layout.conv3x3(block: b), try (1...L).flatMap { try floats("blocks.\(b).conv3x3.\($0).weight") }))
            put((layout.mfilter(block: b), SafeTensor(shape: [config.k, 3, 3], floats: try floats("blocks.\(b).mfilter"))))
            var bn1: [(scale: [Float], shift: [Float])] = [], bn2: [(scale: [Float], shift: [Float])] = []
            for stage in 1...2 {
                for i in 1...L {
                    let prefix = "blocks.\(b).stage\(stage).\(i)"
                    bn1.append(try reduce(prefix + ".bn1") { stage == 1 && $0 < a ? x0Alpha : 1 })
                    let useAlpha = alpha(.block1x1, fanIn: layout.fanIn(block: b, stage: stage, layer: i))
                    bn2.append(try reduce(prefix + ".bn2") { _ in useAlpha })
                }
            }
            put(norm(layout.bn1(block: b), bn1))
            put(norm(layout.bn2(block: b), bn2))
            if b < config.widths.count - 1 {
                put(norm(layout.transitionNorm(b), [try reduce("transitions.\(b).bn") { _ in 1 }]))
                put(weight(layout.transitionConv(b), try floats("transitions.\(b).conv.weight")))
            }
            let f = layout.poolInput(block: b)
            if config.compression {
                put(norm(layout.compressNorm(b), [try reduce("pools.\(b).compress.bn") { $0 < a ? x0Alpha : 1 }]))
                put(weight(layout.compressConv(b), try floats("pools.\(b).compress.conv.weight")))
                let compressAlpha = alpha(.compression, fanIn: f)
                put(norm(layout.poolNorm(b), [try reduce("pools.\(b).bn") { _ in compressAlpha }]))
            } else {
                put(norm(layout.poolNorm(b), [try reduce("pools.\(b).bn") { $0 < a ? x0Alpha : 1 }]))
            }
        }
        put(weight(layout.head, try floats("head.conv.weight")))
        let headAlpha = alpha(.head, fanIn: layout.features)
        put(norm(layout.headNorm, [try reduce("head.bn") { _ in headAlpha }]))
        return out
    }
}
