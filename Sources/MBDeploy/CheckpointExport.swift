import Foundation
import MBCliqueNet
import MBData
import MBTrain

extension ExportedModel {
    /// The export of a training checkpoint, from its tensors and recorded config alone, and
    /// whether the input normalization had to be recomputed: a checkpoint of an older mbc lacks
    /// it, and then it is computed from the recorded data config's training split as training did.
    /// `floatBytes`: the checkpoint's model tensors as float32 (parameters and BatchNorm running
    /// statistics, no momentum), the float model the export replaces.
    public static func exporting(checkpoint path: String)
        throws -> (model: ExportedModel, recomputedNormalization: Bool, floatBytes: Int) {
        let run = try RunConfig.recorded(in: path)
        let model = try MBCliqueNet(config: run.model)
        let recorded = try Checkpoint.read(from: path, into: model, momentum: nil)
        let normalization = try recorded.normalization
            ?? Normalization(config: run.data, trainingSet: loadDataset(run.data, split: .train))
        guard case .map(let sections) = run.resolved else { preconditionFailure("a resolved config is a mapping") }
        let data = ConfigValue.map(sections.filter { $0.key == "data" })
        let names = recorded.classNames.count == run.model.classes ? recorded.classNames : (0..<run.model.classes).map(String.init)
        let exported = try ExportedModel(config: run.model, trained: model.namedTensors(), classNames: names,
                                         normalization: normalization, dataSection: data.yaml())
        return (exported, recorded.normalization == nil, 4 * (model.parameters.count + model.state.count))
    }

    /// The test split of the data section recorded at export, with `--set data.key=value`
    /// overrides; its images must have the model's shape.
    public func dataConfig(overrides: [String], source: String) throws -> DataConfig {
        var tree = try ConfigValue.parse(yaml: dataSection, source: "\(source) (recorded data section)")
        for o in overrides { try tree.apply(override: o) }
        let root = try ConfigSection(path: "", value: tree)
        let data = try DataConfig(section: try root.section("data"))
        try root.finish()
        return data
    }
}


extension ExportedModel {
    /// Throws unless `dataset`'s images and labels are what the model takes.
    public func check(dataset: Dataset, name: String) throws {
        guard dataset.channels == config.inChannels, dataset.height == config.imageSize, dataset.width == config.imageSize,
              dataset.classes == config.classes else {
            throw ExportError("the \(name) test split has \(dataset.channels)x\(dataset.height)x\(dataset.width) images in \(dataset.classes) classes; the exported model takes \(config.inChannels)x\(config.imageSize)x\(config.imageSize) images in \(config.classes) classes. Point --set data.dataset (and data.root) at the data it was trained on.")
        }
    }
}
