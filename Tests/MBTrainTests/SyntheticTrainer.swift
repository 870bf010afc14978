import MBCore
import MBDistributed
@testable import MBTrain

/// A tiny model on 64 synthetic 8x8 images, initialised: 4 steps of 16 per epoch, one epoch
/// (`overrides` in `--set` form change that).
func syntheticTrainer(widths: [Int] = [4, 4], directory: String, world: Communicator = SingleProcess(),
                      stopSignal: StopSignal = InterruptSignals(), overrides: [String] = []) throws -> Trainer {
    var tree = try ConfigValue.parse(yaml: """
        model: {in_channels: 1, image_size: 8, classes: 4, widths: \(widths), layers: 2, k: 2, stem_channels: 4}
        data: {dataset: synthetic, synthetic_shape: [1, 8, 8], classes: 4, synthetic_train_count: 64, synthetic_test_count: 16}
        optim: {global_batch: 16}
        schedule: {t0_epochs: 1, epochs: 1}
        """, source: "test")
    for o in ["log.print_every_steps=100"] + overrides { try tree.apply(override: o) }
    let trainer = try Trainer(config: try RunConfig(tree: tree), runDirectory: directory, world: world, stopSignal: stopSignal)
    try trainer.prepareRunDirectory()
    try trainer.initialize()
    return trainer
}

/// A replica's parameters, running statistics and momentum, bit for bit.
struct Replica: Equatable {
    var parameters: [UInt32]
    var statistics: [UInt32]
    var momentum: [UInt32]
}

extension Trainer {
    var replica: Replica {
        Replica(parameters: model.parameters.values.floats.map(\.bitPattern), statistics: model.state.values.floats.map(\.bitPattern),
                momentum: momentum.floats.map(\.bitPattern))
    }

    /// Overwrites parameters, running statistics and momentum with values of this seed.
    func scramble(seed: Int) {
        for buffer in [model.parameters.values, model.state.values, momentum] {
            for i in 0..<buffer.count { buffer.pointer[i] = Float(seed + 1) * 0.25 + Float(i % 7) }
        }
        model.parametersChanged()
    }
}

extension Buffer {
    var floats: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
