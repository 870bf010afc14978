@testable import MBCliqueNet
import MBCore
import MBTestSupport
import XCTest

/// The order of the network's forward and backward steps, read off the plan of real models:
/// every layer reads maps produced before it; batch statistics follow their map's producer and
/// precede every reader; each map's deferred BatchNorm terms are added after the backward of
/// every reader that deferred them and before the backward of the map's producer.
final class NetworkPlanTests: XCTestCase {
    func testStepOrderOfEveryConfiguration() throws {
        for compression in [true, false] {
            for layers in [2, 3] {
                var c = ModelConfig()
                c.widths = [8, 8, 16]; c.k = 2; c.classes = 4; c.layers = layers; c.imageSize = 8; c.stemChannels = 8
                c.compression = compression
                try checkPlan(MBCliqueNet(config: c).plan, "compression \(compression), \(layers) layers")
            }
        }
    }

    /// Each parameter's gradient is reported complete by exactly one backward step, and is not
    /// changed by any later step: what it was when reported is what the whole backward leaves
    /// (with the clipped STE applied). The allreduce may start on it from then on.
    func testEveryGradientIsFinalWhenReportedComplete() throws {
        for clipSTE in [true, false] {
            for compression in [true, false] {
                var c = ModelConfig()
                c.widths = [8, 8, 16]; c.k = 2; c.classes = 4; c.layers = 3; c.imageSize = 8; c.stemChannels = 8
                c.compression = compression; c.clipSTE = clipSTE
                let model = try MBCliqueNet(config: c)
                model.initialize(seed: 3)
                var rng = SplitMix64(seed: 4)
                // Latent weights beyond ±1 too, so the clipped STE zeroes some gradients.
                let values = model.parameters.values.pointer
                for i in 0..<model.parameters.count { values[i] += Float(0.8 * rng.normal()) }
                model.parametersChanged()
                let n = 3
                let images = Buffer(count: n * 3 * 64)
                fillNormal(images.pointer, count: images.count, rng: &rng)
                let labels: [Int32] = [0, 3, 1]
                model.parameters.zeroGradients()
                model.forward(images: images.pointer, count: n, training: true)
                _ = labels.withUnsafeBufferPointer { model.loss(labels: $0.baseAddress!, gradient: true) }
                var reported: [Int: [Float]] = [:]
                model.backwardFromLoss { completed in
                    for t in completed {
                        XCTAssertNil(reported[t.index], "\(model.parameters.infos[t.index].name) reported twice")
                        reported[t.index] = Array(UnsafeBufferPointer(start: model.parameters.gradient(t), count: t.count))
                    }
                }
                XCTAssertEqual(Set(reported.keys), Set(model.parameters.infos.indices))
                var nonzero = 0
                for (index, info) in model.parameters.infos.enumerated() {
                    let final = Array(UnsafeBufferPointer(start: model.parameters.gradients!.pointer + info.offset, count: info.count))
                    XCTAssertEqual(reported[index], final, "\(info.name) changed after it was reported complete (clipSTE \(clipSTE), compression \(compression))")
                    if final.contains(where: { $0 != 0 }) { nonzero += 1 }
                }
                // Nearly every tensor has a gradient, so a late write would show.
                XCTAssertGreaterThan(nonzero, model.parameters.infos.count * 9 / 10)
            }
        }
    }

    func checkPlan(_ plan: NetworkPlan, _ what: String) {
        func id(_ a: Activation) -> ObjectIdentifier { ObjectIdentifier(a) }
        var producedAt: [ObjectIdentifier: Int] = [id(plan.input): -1]
        var statisticsAt: [ObjectIdentifier: Int] = [:]
        var normalizedReaders: [ObjectIdentifier: [Int]] = [:]
        for (i, step) in plan.forwardSteps.enumerated() {
            switch step {
            case .layer(let layer):
                for x in layer.inputs { XCTAssertNotNil(producedAt[id(x)], "\(what): step \(i) reads an unproduced map") }
                for x in layer.normalizedInputs {
                    XCTAssertNotNil(statisticsAt[id(x)], "\(what): step \(i) normalizes a map before its statistics")
                    normalizedReaders[id(x), default: []].append(i)
                }
                for y in layer.outputs { producedAt[id(y)] = i }
            case .batchStatistics(let map):
                XCTAssertEqual(producedAt[id(map)], i - 1, "\(what): statistics right after the producer")
                statisticsAt[id(map)] = i
            case .deferredTerms:
                XCTFail("\(what): deferred terms in the forward steps")
            }
        }
        XCTAssertFalse(normalizedReaders.isEmpty)
        XCTAssertEqual(Set(statisticsAt.keys), Set(normalizedReaders.keys), "\(what): statistics exactly for the normalized maps")

        var backwardAt: [ObjectIdentifier: Int] = [:]   // layer → position in the backward steps
        var appliedAt: [ObjectIdentifier: Int] = [:]
        for (i, step) in plan.backwardSteps.enumerated() {
            switch step {
            case .layer(let layer): backwardAt[ObjectIdentifier(layer)] = i
            case .deferredTerms(let map):
                XCTAssertNil(appliedAt[id(map)], "\(what): deferred terms added twice")
                appliedAt[id(map)] = i
            case .batchStatistics:
                XCTFail("\(what): statistics in the backward steps")
            }
        }
        let layers = plan.layers
        XCTAssertEqual(backwardAt.count, layers.count, "\(what): every layer runs backward once")
        var deferring = 0
        for layer in layers where layer.defersInputGradientTerms {
            for x in layer.normalizedInputs {
                deferring += 1
                guard let applied = appliedAt[id(x)] else { XCTFail("\(what): deferred terms never added"); continue }
                XCTAssertLessThan(backwardAt[ObjectIdentifier(layer)]!, applied, "\(what): terms added before a reader's backward")
                if let producer = layers.first(where: { $0.outputs.contains { $0 === x } }) {
                    XCTAssertLessThan(applied, backwardAt[ObjectIdentifier(producer)]!, "\(what): producer's backward before the terms")
                }
            }
        }
        XCTAssertGreaterThan(deferring, 0)
        // A map's terms are added once, and only for maps some reader defers.
        XCTAssertEqual(Set(appliedAt.keys), Set(layers.filter(\.defersInputGradientTerms).flatMap(\.normalizedInputs).map(id)))
    }
}
