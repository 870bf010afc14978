import Foundation
import MBData

/// Images/s of the input pipeline alone, on CIFAR-shaped synthetic data (3x32x32, 50,000
/// images, batch 64, flip + crop 4 + normalise): the writer on the calling thread, then the
/// prefetching loader with nothing computing between steps.
func runLoaderBenchmark() throws {
    var config = DataConfig()
    config.dataset = .synthetic
    config.syntheticShape = [3, 32, 32]
    config.syntheticTrainCount = 50_000
    let data = try loadDataset(config, split: .train)
    let writer = BatchWriter(dataset: data, normalization: Normalization(trainingSet: data),
                             augmentation: config.trainingAugmentation)
    let sampler = try TrainSampler(count: data.count, globalBatch: 64, worldSize: 1, rank: 0, seed: 1)
    let steps = 4 * sampler.stepsPerEpoch

    var images = [Float](repeating: 0, count: sampler.localBatch * writer.imageSize)
    var labels = [Int32](repeating: 0, count: sampler.localBatch)
    var order = sampler.order(epoch: 0)
    var start = Date()
    for step in 0..<steps {
        let (epoch, batch) = sampler.position(globalStep: step)
        if batch == 0 { order = sampler.order(epoch: epoch) }
        writer.write(indices: sampler.localIndices(order: order, batch: batch), epoch: epoch, seed: 1,
                     images: &images, labels: &labels)
    }
    let direct = Double(steps * sampler.localBatch) / Date().timeIntervalSince(start)

    start = Date()
    let loader = PrefetchingLoader(writer: writer, sampler: sampler, steps: steps)
    var checksum: Float = 0
    while let batch = loader.next() { checksum += batch.images[0] }
    let prefetched = Double(steps * sampler.localBatch) / Date().timeIntervalSince(start)

    print("loader: synthetic 3x32x32, batch 64, flip + crop 4 + normalise, \(steps) steps")
    print(String(format: "  batch writer, one thread:  %10.0f images/s", direct))
    print(String(format: "  prefetching loader:        %10.0f images/s  (checksum %.3f)", prefetched, checksum))
}
