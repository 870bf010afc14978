import Foundation
import MBCliqueNet
import MBCore
import MBData
import MBDeploy

/// The repository's root (data/, reference/, the MBDataTests fixtures).
var repositoryRoot: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

var fixtures: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures" }

/// A model of `config` with its seed-5 initialisation and random BatchNorm parameters and
/// statistics (so every fold is exercised), and its export.
func randomExport(_ config: ModelConfig, rng: inout SplitMix64) throws -> (MBCliqueNet, ExportedModel) {
    let model = try MBCliqueNet(config: config)
    model.initialize(seed: 5)
    for store in [model.parameters, model.state] {
        for info in store.infos where info.group == "BatchNorm" {
            let p = store.values.pointer + info.offset
            for i in 0..<info.count {
                p[i] = info.name.hasSuffix("running_var") ? Float(0.2 + rng.uniform())
                    : Float(rng.normal() * 0.5) + (info.name.hasSuffix(".weight") ? 1 : 0)
            }
        }
    }
    model.parametersChanged()
    let c = config.inChannels
    let exported = try ExportedModel(config: config, trained: model.namedTensors(), classNames: (0..<config.classes).map { "c\($0)" },
                                     normalization: Normalization(mean: Array([0.5, 0.4, 0.3].prefix(c)), std: Array([0.2, 0.25, 0.3].prefix(c))),
                                     dataSection: "data: {dataset: synthetic}\n")
    return (model, exported)
}

/// A small model config for image and bad-input tests.
func smallConfig(channels: Int, size: Int) -> ModelConfig {
    var config = ModelConfig()
    config.inChannels = channels; config.imageSize = size; config.classes = 10; config.widths = [8, 8]
    config.layers = 2; config.k = 2; config.stemChannels = 8
    return config
}
