import Foundation
import MBCliqueNet
import MBCore
import MBData
@testable import MBDeploy
import MBTestSupport
import XCTest

/// mbc's inference from an exported file against `reference/export_reader.py`, an independent
/// NumPy reader written from the format's description: it unpacks the signs with NumPy, rebuilds
/// each modulated filter bank `Q = M ⊙ sign(C)` and convolves directly (mbc takes the factored
/// route on sign lookup tables), normalizes the bytes with the metadata's mean and std, and
/// computes in float64.
///
/// Tolerance: the two differ only by mbc's float32 rounding (the signs are read from the same
/// bits, so no sign can differ; a ReLU input within rounding of 0 moves its output by about that
/// rounding too). Measured: at most 2.0e-7 of the largest logit over the three models below; the
/// bound 1e-4 leaves a wide margin, while a misread layout moves logits by O(1) (reading the bits
/// most significant first, tried on the reader: 3.2 and 1.25).
final class ReferenceReaderTests: XCTestCase, CommandRunning {
    func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        guard let python = onPath("python3") else { throw XCTSkip("python3 is not on PATH; the reference reader needs it") }
        return try run(python, arguments, timeout: 300)
    }

    func testNumPyReaderComputesMbcsLogitsFromTheFileAlone() throws {
        guard try python(["-c", "import numpy"]).status == 0 else {
            throw XCTSkip("NumPy is not installed (pip install numpy; .ci/run installs it); the reference reader needs it")
        }
        let dir = try temporaryDirectory(for: self)
        var rng = SplitMix64(seed: 21)
        var gray = smallConfig(channels: 1, size: 28)
        gray.widths = [8, 8, 16]
        var colour = smallConfig(channels: 3, size: 16)
        colour.layers = 3; colour.k = 4; colour.compression = false; colour.binarize = .exceptStemHead
        var float = smallConfig(channels: 3, size: 16)
        float.binarize = .none
        for (name, config) in [("gray-all", gray), ("colour-except-stem-head", colour), ("unbinarized", float)] {
            let (_, exported) = try randomExport(config, rng: &rng)
            let model = dir + "/\(name).safetensors", input = dir + "/\(name)-images.safetensors", output = dir + "/\(name)-logits.safetensors"
            try exported.write(to: model)
            let n = 6, size = config.inChannels * config.imageSize * config.imageSize
            let bytes = (0..<n * size).map { _ in UInt8(truncatingIfNeeded: Int(rng.uniform() * 256)) }
            try SafeTensors(tensors: ["images": SafeTensor(shape: [n, config.inChannels, config.imageSize, config.imageSize], uint8s: bytes)])
                .write(to: input)
            let r = try python([repositoryRoot + "/reference/export_reader.py", model, "--images", input, "--logits", output])
            XCTAssertEqual(r.status, 0, r.output)
            let reference = try XCTUnwrap(try SafeTensors(contentsOf: output).tensors["logits"]?.floats)

            let deployed = DeployedModel(try ExportedModel(contentsOf: model))
            let dataset = Dataset(channels: config.inChannels, height: config.imageSize, width: config.imageSize, classes: config.classes,
                                  images: bytes, labels: [Int32](repeating: 0, count: n))
            let writer = BatchWriter(dataset: dataset, normalization: deployed.exported.normalization, augmentation: .none)
            let images = Buffer(count: n * size)
            var labels = [Int32](repeating: 0, count: n)
            labels.withUnsafeMutableBufferPointer { writer.write(indices: 0..<n, epoch: 0, seed: 0, images: images.pointer, labels: $0.baseAddress!) }
            let logits = Array(UnsafeBufferPointer(start: deployed.forward(images: images.pointer, count: n), count: n * config.classes))
            XCTAssertEqual(reference.count, logits.count)
            let scale = reference.map(abs).max()!
            let worst = zip(logits, reference).map { abs($0 - $1) }.max()! / scale
            XCTAssertGreaterThan(scale, 0.1, name)
            XCTAssertLessThan(worst, 1e-4, "\(name): worst difference \(worst) of the largest logit")
        }
    }
}
