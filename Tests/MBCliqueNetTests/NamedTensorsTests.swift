import MBCliqueNet
import MBCore
import XCTest

final class NamedTensorsTests: XCTestCase {
    func tinyConfig() -> ModelConfig {
        var c = ModelConfig()
        c.widths = [8, 8]; c.k = 2; c.classes = 4; c.layers = 2; c.imageSize = 8; c.stemChannels = 8
        return c
    }

    func testNamedTensorsRoundTripThroughAssignAndSafetensors() throws {
        let source = try MBCliqueNet(config: tinyConfig())
        source.initialize(seed: 1)
        source.state.values.pointer[3] = 0.25   // a running statistic that is not its initial value
        let tensors = source.namedTensors()
        XCTAssertEqual(tensors.count, source.parameters.infos.count + source.state.infos.count)
        XCTAssertEqual(tensors["blocks.1.conv3x3.2.weight"]?.shape, [4, 8, 3, 3])
        XCTAssertEqual(tensors["head.bn.running_var"]?.shape, [4])

        let path = NSTemporaryDirectory() + "mbc-named-tensors-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors(tensors: tensors).write(to: path)
        let target = try MBCliqueNet(config: tinyConfig())
        target.initialize(seed: 2)
        try target.assign(SafeTensors(contentsOf: path).tensors)
        XCTAssertEqual(target.parameters.values.array(count: target.parameters.count),
                       source.parameters.values.array(count: source.parameters.count))
        XCTAssertEqual(target.state.values.array(count: target.state.count), source.state.values.array(count: source.state.count))
        // assign refreshes the signs: both models compute the same logits.
        let images = [Float](repeating: 0.5, count: 2 * 3 * 64)
        let a = Array(UnsafeBufferPointer(start: source.forward(images: images, count: 2, training: false), count: 8))
        let b = Array(UnsafeBufferPointer(start: target.forward(images: images, count: 2, training: false), count: 8))
        XCTAssertEqual(a, b)
    }

    func testAssignRefusesMissingExtraAndMisshapedTensorsAndChangesNothing() throws {
        let model = try MBCliqueNet(config: tinyConfig())
        model.initialize(seed: 1)
        let before = model.parameters.values.array(count: model.parameters.count)
        var tensors = model.namedTensors()
        tensors["stem.weight"] = SafeTensor(shape: [8, 3, 3, 3], floats: [Float](repeating: 7, count: 216))  // valid
        tensors["blocks.0.mfilter"] = nil
        tensors["blocks.0.conv3x3.1.weight"] = SafeTensor(shape: [8, 8, 3, 3], floats: [Float](repeating: 0, count: 576))
        tensors["head.bn.bias"] = SafeTensor(shape: [4], int32s: [0, 0, 0, 0])
        tensors["blocks.0.stage3.1.bn1.weight"] = SafeTensor(shape: [8], floats: [Float](repeating: 1, count: 8))
        XCTAssertThrowsError(try model.assign(tensors)) { error in
            let message = "\(error)"
            for part in ["missing 1: `blocks.0.mfilter`", "not in this model 1: `blocks.0.stage3.1.bn1.weight`",
                         "`blocks.0.conv3x3.1.weight` has shape [8, 8, 3, 3], the model has [4, 8, 3, 3]",
                         "`head.bn.bias` is I32, expected F32", "Use the configuration they were saved with"] {
                XCTAssertTrue(message.contains(part), "\(part) not in: \(message)")
            }
        }
        XCTAssertEqual(model.parameters.values.array(count: model.parameters.count), before)
    }
}
