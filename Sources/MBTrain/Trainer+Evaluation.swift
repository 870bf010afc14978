import Foundation
import MBCore
import MBData
import MBDistributed

/// Evaluation: running statistics averaged over the ranks, the test set scored in shards, the record logged.
extension Trainer {
    /// Scores the test set and records the evaluation: rank 0 appends it to the logs, every rank
    /// reports it.
    func evaluateAndLog(epoch: Int, lr: Double, epochTotals: EpochTotals, trainingStarted: Date,
                        events: (TrainingEvent) -> Void) throws -> EvalRecord {
        let scores = try evaluateTestSet()
        let record = EvalRecord(epoch: epoch, step: step, lr: lr, trainLoss: epochTotals.meanLoss, trainTop1: epochTotals.top1,
                                testLoss: scores.loss, testTop1: scores.top1, testTop5: scores.top5,
                                imagesPerSecond: epochTotals.imagesPerSecond, elapsedSeconds: elapsed(since: trainingStarted))
        if world.rank == 0 { try log.append(record) }
        events(.evaluated(record))
        return record
    }

    /// Runs `body` with the BatchNorm running statistics averaged over the ranks, then gives each
    /// rank its own back. Each rank keeps the statistics of its own batches throughout training,
    /// so a run continued from a checkpoint (which holds every rank's) is bitwise the run that
    /// was never stopped, wherever it stopped.
    func withAveragedRunningStatistics<T>(_ body: () throws -> T) throws -> T {
        guard world.size > 1 else { return try body() }
        let s = model.state.values
        let own = Array(UnsafeBufferPointer(start: s.pointer, count: model.state.count))
        defer { s.pointer.update(from: own, count: own.count) }
        try world.allreduceSum(s.buffer)
        let scale = 1 / Float(world.size)
        for i in 0..<s.count { s.pointer[i] *= scale }
        return try body()
    }

    /// Every rank's running statistics, row r for rank r (world size × state count), on every rank.
    func runningStatisticsByRank() throws -> [Float] {
        let count = model.state.count
        var rows = [Float](repeating: 0, count: world.size * count)
        rows.withUnsafeMutableBufferPointer { r in
            (r.baseAddress! + world.rank * count).update(from: model.state.values.pointer, count: count)
        }
        try rows.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        return rows
    }

    /// Loss, top-1 and top-5 over the whole test split, each sample scored once across ranks.
    /// Each evaluation batch runs through the model in chunks of the per-rank training batch, so
    /// evaluation needs no activation memory beyond what training already holds (the kernels work
    /// image by image: chunking costs no speed).
    public func evaluateTestSet() throws -> (loss: Double, top1: Double, top5: Double) {
        try evaluate(testSet, normalization: normalization, batchSize: config.data.evalBatch, chunk: sampler.localBatch,
                     classes: config.model.classes, world: world) { images, count in
            UnsafePointer(model.forward(images: images, count: count, training: false))
        }
    }
}

/// Loss, top-1 and top-5 of `forward` (images (N, C, H, W) → logits (N, classes)) over `dataset`,
/// each sample scored once across the ranks of `world` (`EvalShard`); batches of `batchSize` go
/// through `forward` in chunks of at most `chunk` images. The training evaluation and `eval --model`.
public func evaluate(_ dataset: Dataset, normalization: Normalization, batchSize: Int, chunk: Int, classes: Int,
                     world: Communicator, forward: (UnsafePointer<Float>, Int) -> UnsafePointer<Float>)
    throws -> (loss: Double, top1: Double, top5: Double) {
    let shard = try EvalShard(count: dataset.count, batchSize: batchSize, worldSize: world.size, rank: world.rank)
    let writer = BatchWriter(dataset: dataset, normalization: normalization, augmentation: .none)
    let images = Buffer(count: shard.batchSize * writer.imageSize)
    var labels = [Int32](repeating: 0, count: shard.batchSize)
    let ce = SoftmaxCrossEntropy(classes: classes)
    var local = EvalTotals()
    for b in 0..<shard.batchCount {
        let batch = shard.batch(b)
        labels.withUnsafeMutableBufferPointer { l in
            writer.write(indices: batch.indices, epoch: 0, seed: 0, images: images.pointer, labels: l.baseAddress!)
            for start in stride(from: 0, to: batch.indices.count, by: chunk) {
                let count = min(chunk, batch.indices.count - start)
                let logits = forward(images.pointer + start * writer.imageSize, count)
                let counted = min(count, batch.counted - start)   // the first `batch.counted` samples are scored
                guard counted > 0 else { continue }
                let r = ce.evaluate(logits: logits, labels: l.baseAddress! + start, count: counted, gradient: false)
                local.lossSum += r.lossSum
                local.top1Hits += Double(r.top1)
                local.top5Hits += Double(r.top5)
                local.samples += Double(counted)
            }
        }
    }
    let all = try local.summed(over: world)
    precondition(Int(all.samples) == dataset.count, "evaluation scored \(Int(all.samples)) of \(dataset.count) samples")
    return (all.lossSum / all.samples, all.top1Hits / all.samples, all.top5Hits / all.samples)
}
