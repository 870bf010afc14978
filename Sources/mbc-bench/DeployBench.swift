import Foundation
import MBCliqueNet
import MBCore
import MBData
import MBDeploy

/// Inference from the exported model (packed signs, folded BatchNorm) against the training
/// code's evaluation forward of the same model, batch 256 of 3x32x32, one thread, interleaved.
func runDeployBenchmark(repeats: Int) throws {
    BLASThreads.set(1)
    print("== deploy: evaluation forward of a checkpoint's model vs inference from its export, batch 256, 1 thread ==")
    for widths in [[64, 64, 128], [64, 128, 256]] {
        let config = benchmarkConfig(widths: widths, k: 4)
        let model = try MBCliqueNet(config: config)
        model.initialize(seed: 1)
        let exported = try ExportedModel(config: config, trained: model.namedTensors(), classNames: (0..<10).map(String.init),
                                         normalization: Normalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]),
                                         dataSection: "data: {dataset: synthetic}\n")
        let deployed = DeployedModel(exported)
        var rng = SplitMix64(seed: 2)
        let images = Buffer(count: 256 * 3 * 32 * 32)
        for i in 0..<images.count { images.pointer[i] = Float(rng.normal()) }
        func run(_ checkpoint: Bool) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            if checkpoint { model.forward(images: images.pointer, count: 256, training: false) }
            else { _ = deployed.forward(images: images.pointer, count: 256) }
            return seconds(since: start)
        }
        _ = (run(true), run(false))   // warm-up
        var checkpointTimes: [Double] = [], exportTimes: [Double] = []
        for _ in 0..<repeats {
            checkpointTimes.append(run(true))
            exportTimes.append(run(false))
        }
        let a = median(checkpointTimes), b = median(exportTimes)
        let name = widths.map(String.init).joined(separator: "-") + " k=4"
        print(String(format: "%@  checkpoint model: %.3f s  %.1f img/s   export: %.3f s  %.1f img/s   export/checkpoint speed %.2fx",
                     name, a, 256 / a, b, 256 / b, a / b))
    }
}
