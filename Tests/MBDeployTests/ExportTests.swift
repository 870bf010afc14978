import Foundation
import MBCliqueNet
import MBCore
import MBData
@testable import MBDeploy
import MBDistributed
import MBTrain
import MBTestSupport
import XCTest

/// The exported model against the trained one it came from: the format (bit order, folding),
/// inference from the file alone, and the same predictions image by image.
final class ExportTests: XCTestCase {
    /// Element i of the flattened weight is bit i%8 of byte i/8, least significant first;
    /// 1 is +1 and sign(0) = +1 (also for −0), as training binarizes.
    func testSignsArePackedLeastSignificantBitFirst() {
        let values: [Float] = [1, -1, 0, -0.0, -2, 3, -0.5, 0.25, /* byte 1 */ -1, 1]
        XCTAssertEqual(Folding.pack(values), [0b1010_1101, 0b0000_0010])
    }

    /// A model with random parameters and BatchNorm statistics, in every binarize scope and with
    /// compression on and off, exported, written, read back and run from the file: its logits
    /// equal the training code's evaluation forward. Both run in Float32 with the same sign
    /// products; they differ only where the export folds (α·γ/σ and β − μ·γ/σ computed once
    /// instead of (x − μ)·γ/σ + β per element), a few float roundings per layer, 1e-6 relative
    /// as measured; 1e-4 of the logits' scale allows that through a dozen layers. A wrong fold
    /// (a missing α is a factor 2-10 on a channel) or a misplaced column moves logits by O(1).
    func testExportedForwardEqualsTheTrainingForwardInEveryScope() throws {
        let dir = try temporaryDirectory(for: self)
        var rng = SplitMix64(seed: 11)
        for (scope, compression, layers, k) in [(BinarizeScope.all, true, 2, 2), (.all, false, 3, 4), (.exceptStemHead, true, 3, 2),
                                                (.modulated, false, 2, 2), (.none, true, 2, 4)] {
            var config = ModelConfig()
            config.inChannels = 3; config.imageSize = 16; config.classes = 7; config.widths = [8, 8, 16]
            config.layers = layers; config.k = k; config.stemChannels = 8; config.compression = compression; config.binarize = scope
            let (model, exported) = try randomExport(config, rng: &rng)
            let path = dir + "/\(scope.rawValue)-\(compression).safetensors"
            try exported.write(to: path)
            let deployed = DeployedModel(try ExportedModel(contentsOf: path))
            let n = 5, images = Buffer(count: n * 3 * 16 * 16)
            for i in 0..<images.count { images.pointer[i] = Float(rng.normal()) }
            let expected = Array(UnsafeBufferPointer(start: model.forward(images: images.pointer, count: n, training: false), count: n * 7))
            let got = Array(UnsafeBufferPointer(start: deployed.forward(images: images.pointer, count: n), count: n * 7))
            let scale = expected.map(abs).max()!
            XCTAssertGreaterThan(scale, 0.1)
            for i in expected.indices {
                XCTAssertEqual(got[i], expected[i], accuracy: 1e-4 * scale, "\(scope) compression \(compression): logit \(i)")
            }
        }
    }

    /// A small model trained on MNIST, checkpointed, exported: the export alone classifies every
    /// one of the 10,000 test images as the checkpoint does, and its logits agree to float rounding
    /// (the folds of the scope test, 1e-6 relative, through logits of size about 10).
    func testTrainedModelPredictsEveryMNISTTestImageAsItsCheckpoint() throws {
        let dir = try temporaryDirectory(for: self)
        let tree = try ConfigValue.parse(yaml: """
            model: {in_channels: 1, image_size: 28, classes: 10, widths: [8, 8, 16], layers: 2, k: 2, stem_channels: 8}
            data: {dataset: mnist, root: \(repositoryRoot)/data, flip: false, train_limit: 8192}
            optim: {global_batch: 64}
            schedule: {t0_epochs: 1, epochs: 1}
            log: {print_every_steps: 1000}
            """, source: "test")
        let trainer = try Trainer(config: try RunConfig(tree: tree), runDirectory: dir, world: SingleProcess())
        try trainer.prepareRunDirectory()
        try trainer.initialize()
        XCTAssertEqual(try trainer.train(events: { _ in }), .finished(step: 128))
        let checkpoint = CheckpointDirectory(runDirectory: dir).periodic(step: 128)
        let (exported, recomputed, _) = try ExportedModel.exporting(checkpoint: checkpoint)
        XCTAssertFalse(recomputed, "the checkpoint records its normalization")
        try exported.write(to: dir + "/model.safetensors")
        let deployed = DeployedModel(try ExportedModel(contentsOf: dir + "/model.safetensors"))

        let run = try RunConfig(tree: tree)
        let model = try MBCliqueNet(config: run.model)
        let recorded = try Checkpoint.read(from: checkpoint, into: model, momentum: nil)
        XCTAssertEqual(recorded.normalization, exported.normalization)
        XCTAssertEqual(exported.normalization, Normalization(trainingSet: try loadDataset(run.data, split: .train)))
        let test = try loadDataset(run.data, split: .test)
        let writer = BatchWriter(dataset: test, normalization: exported.normalization, augmentation: .none)
        let batch = 500, images = Buffer(count: batch * writer.imageSize)
        var labels = [Int32](repeating: 0, count: batch)
        var differing: [Int] = [], correct = 0, largest: Float = 0
        for start in stride(from: 0, to: test.count, by: batch) {
            labels.withUnsafeMutableBufferPointer {
                writer.write(indices: start..<start + batch, epoch: 0, seed: 0, images: images.pointer, labels: $0.baseAddress!)
            }
            let a = Array(UnsafeBufferPointer(start: model.forward(images: images.pointer, count: batch, training: false), count: batch * 10))
            let b = Array(UnsafeBufferPointer(start: deployed.forward(images: images.pointer, count: batch), count: batch * 10))
            for i in 0..<batch {
                let za = a[(i * 10)..<(i * 10 + 10)], zb = b[(i * 10)..<(i * 10 + 10)]
                let pa = za.indices.max { za[$0] < za[$1] }!, pb = zb.indices.max { zb[$0] < zb[$1] }!
                if pa != pb { differing.append(start + i) }
                if pa - i * 10 == Int(labels[i]) { correct += 1 }
                largest = max(largest, zip(za, zb).map { abs($0 - $1) }.max()!)
            }
        }
        XCTAssertEqual(differing, [], "images classified differently")
        XCTAssertLessThan(largest, 1e-4, "largest logit difference (8.6e-6 measured)")
        XCTAssertGreaterThan(correct, 5000, "the model learned: 6,242 measured, chance is 1,000")
    }
}
