@testable import MBCliqueNet
import MBCore
import MBTestSupport
import XCTest

/// A whole training step with bf16 weight gradients against the same step in fp32.
final class GradientPrecisionTests: XCTestCase {
    /// bf16 touches only the products dW = dY·Xᵀ of the 1x1 and modulated convs: every other
    /// gradient (BatchNorm, M-filters, stem, head) is bitwise the fp32 one, since the gradients
    /// flowing back through the network stay float32; the conv weights' gradients differ by the
    /// rounding of dY and X to 8 significant bits, about 2⁻⁹ relative per factor: their L2
    /// difference must stay under 1 % of their norm (a product that lost an image or a block, or
    /// read the wrong rows, is off by far more), and must not be zero (bf16 was really used).
    func testBF16ChangesOnlyTheConvWeightGradients() throws {
        guard GradientPrecision.bf16.runsOnThisCPU else { throw XCTSkip("this CPU has no AVX512-BF16") }
        var c = ModelConfig()
        c.widths = [16, 32]; c.k = 4; c.classes = 10; c.inChannels = 1; c.layers = 3; c.imageSize = 20; c.stemChannels = 16
        let n = 12
        var rng = SplitMix64(seed: 3)
        let images = Buffer(count: n * 20 * 20)
        fillNormal(images.pointer, count: images.count, rng: &rng)
        let labels: [Int32] = (0..<n).map { Int32($0 % 10) }
        func gradients(_ precision: GradientPrecision) throws -> (MBCliqueNet, [Float]) {
            let model = try MBCliqueNet(config: c)
            model.initialize(seed: 7)
            model.gradientPrecision = precision
            model.parameters.zeroGradients()
            labels.withUnsafeBufferPointer { _ = model.trainStep(images: images.pointer, labels: $0.baseAddress!, count: n) }
            return (model, model.parameters.gradients!.array(count: model.parameters.count))
        }
        let (model, fp32) = try gradients(.fp32)
        let (_, bf16) = try gradients(.bf16)
        let productGroups: Set<String> = [ConvKind.block1x1, .modulated3x3, .transition, .compression].map(\.rawValue).reduce(into: []) { $0.insert($1) }
        var compared = 0
        for info in model.parameters.infos {
            let range = info.offset..<(info.offset + info.count)
            if productGroups.contains(info.group) {
                var difference = 0.0, norm = 0.0
                for i in range {
                    difference += Double(bf16[i] - fp32[i]) * Double(bf16[i] - fp32[i])
                    norm += Double(fp32[i]) * Double(fp32[i])
                }
                XCTAssertLessThan(difference.squareRoot(), 0.01 * norm.squareRoot(), info.name)
                XCTAssertGreaterThan(difference, 0, "\(info.name): bf16 gave the fp32 bits")
                compared += 1
            } else {
                XCTAssertEqual(Array(bf16[range]), Array(fp32[range]), info.name)
            }
        }
        XCTAssertGreaterThan(compared, 10)
    }
}
