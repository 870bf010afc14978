import XCTest
@testable import MBData

final class SamplerTests: XCTestCase {
    func testRankShardsAreDisjointEqualAndCoverTheEpoch() throws {
        let count = 103, globalBatch = 12
        for world in [1, 2, 3, 4] {
            var seen: [Int] = []
            for rank in 0..<world {
                let s = try TrainSampler(count: count, globalBatch: globalBatch, worldSize: world, rank: rank, seed: 7)
                XCTAssertEqual(s.stepsPerEpoch, 8)
                var mine: [Int] = []
                for step in 16..<24 { mine += s.localIndices(globalStep: step) }  // all of epoch 2
                XCTAssertEqual(mine.count, 8 * globalBatch / world, "every rank reads the same number")
                seen += mine
            }
            XCTAssertEqual(seen.count, 96)
            XCTAssertEqual(Set(seen).count, 96, "no sample read twice in an epoch")
            XCTAssertTrue(seen.allSatisfy { (0..<count).contains($0) })
        }
    }

    func testOrderIsAPureFunctionOfSeedAndEpoch() throws {
        let a = try TrainSampler(count: 1000, globalBatch: 10, worldSize: 1, rank: 0, seed: 42)
        let b = try TrainSampler(count: 1000, globalBatch: 10, worldSize: 2, rank: 1, seed: 42)
        XCTAssertEqual(a.order(epoch: 3), b.order(epoch: 3))
        XCTAssertEqual(a.order(epoch: 3).sorted(), Array(0..<1000))
        XCTAssertNotEqual(a.order(epoch: 3), a.order(epoch: 4))
        let c = try TrainSampler(count: 1000, globalBatch: 10, worldSize: 1, rank: 0, seed: 43)
        XCTAssertNotEqual(a.order(epoch: 3), c.order(epoch: 3))
        XCTAssertNotEqual(a.order(epoch: 0), Array(0..<1000))
    }

    func testGlobalBatchMustDivideByWorldSize() {
        assertDataError(try TrainSampler(count: 100, globalBatch: 10, worldSize: 4, rank: 0, seed: 0),
                        mentions: ["global batch 10", "world size 4", "multiple"])
        assertDataError(try TrainSampler(count: 5, globalBatch: 8, worldSize: 2, rank: 0, seed: 0),
                        mentions: ["larger than the 5 training samples"])
    }

    func testEvalShardsCountEverySampleOnceWithEqualBatchCounts() throws {
        for count in [4, 10, 11, 13, 100] {
            for world in [1, 2, 3, 4] {
                for batchSize in [1, 3, 4, 64] {
                    var counted: [Int] = []
                    var batchCounts = Set<Int>()
                    for rank in 0..<world {
                        let shard = try EvalShard(count: count, batchSize: batchSize, worldSize: world, rank: rank)
                        batchCounts.insert(shard.batchCount)
                        for b in 0..<shard.batchCount {
                            let batch = shard.batch(b)
                            XCTAssertFalse(batch.indices.isEmpty)
                            XCTAssertLessThanOrEqual(batch.indices.count, batchSize)
                            counted += batch.indices.prefix(batch.counted)
                        }
                    }
                    XCTAssertEqual(batchCounts.count, 1, "count \(count) world \(world) batch \(batchSize)")
                    XCTAssertEqual(counted.sorted(), Array(0..<count), "count \(count) world \(world) batch \(batchSize)")
                }
            }
        }
        assertDataError(try EvalShard(count: 2, batchSize: 8, worldSize: 3, rank: 0), mentions: ["fewer than the 3 ranks"])
    }
}

final class AugmentationTests: XCTestCase {
    func tinyDataset() -> Dataset {
        var config = DataConfig()
        config.dataset = .synthetic
        config.syntheticShape = [3, 9, 11]
        config.syntheticTrainCount = 64
        config.classes = 5
        return try! loadDataset(config, split: .train)
    }

    /// Reference: zero-pad the (flipped) image by p, cut the window at (p + dy, p + dx), then
    /// normalise each byte in Double.
    func reference(_ data: Dataset, sample: Int, _ choice: Augmentation.Choice, padding p: Int,
                   _ norm: Normalization) -> [Float] {
        let (c, h, w) = (data.channels, data.height, data.width)
        var out: [Float] = []
        for ch in 0..<c {
            var padded = [[UInt8]](repeating: [UInt8](repeating: 0, count: w + 2 * p), count: h + 2 * p)
            for y in 0..<h {
                for x in 0..<w {
                    let source = choice.flipped ? w - 1 - x : x
                    padded[y + p][x + p] = data.images[((sample * c + ch) * h + y) * w + source]
                }
            }
            for y in 0..<h {
                for x in 0..<w {
                    let byte = Double(padded[y + p + choice.dy][x + p + choice.dx])
                    out.append(Float((byte / 255 - norm.mean[ch]) / norm.std[ch]))
                }
            }
        }
        return out
    }

    func testFlipCropAndNormaliseMatchAReference() {
        let data = tinyDataset()
        let norm = Normalization(mean: [0.1, 0.5, 0.9], std: [0.2, 0.3, 0.25])
        let padding = 4
        let writer = BatchWriter(dataset: data, normalization: norm, augmentation: Augmentation(flip: true, padding: padding))
        let indices = Array(0..<data.count)
        let images = UnsafeMutablePointer<Float>.allocate(capacity: data.count * data.imageSize)
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: data.count)
        defer { images.deallocate(); labels.deallocate() }
        var flips = 0
        var shifts = Set<Int>()
        for epoch in 0..<3 {
            writer.write(indices: indices, epoch: epoch, seed: 9, images: images, labels: labels)
            for i in indices {
                let choice = writer.augmentation.choice(seed: 9, epoch: epoch, sample: i)
                flips += choice.flipped ? 1 : 0
                shifts.insert(choice.dx)
                shifts.insert(choice.dy + 100)
                let got = Array(UnsafeBufferPointer(start: images + i * data.imageSize, count: data.imageSize))
                let want = reference(data, sample: i, choice, padding: padding, norm)
                XCTAssertEqual(zip(got, want).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-5)
                XCTAssertEqual(labels[i], data.labels[i])
            }
        }
        XCTAssertEqual(Double(flips) / Double(3 * data.count), 0.5, accuracy: 0.1)
        XCTAssertEqual(shifts, Set((-4...4).map { $0 } + (96...104).map { $0 }), "every shift in -4...4 occurs")
    }

    func testEvaluationIsOnlyNormalised() {
        let data = tinyDataset()
        let norm = Normalization(trainingSet: data)
        let writer = BatchWriter(dataset: data, normalization: norm, augmentation: .none)
        var images = [Float](repeating: 0, count: 2 * data.imageSize)
        var labels = [Int32](repeating: 0, count: 2)
        writer.write(indices: [5, 6], epoch: 1, seed: 1, images: &images, labels: &labels)
        let plain = Augmentation.Choice(flipped: false, dy: 0, dx: 0)
        let want = reference(data, sample: 5, plain, padding: 0, norm) + reference(data, sample: 6, plain, padding: 0, norm)
        XCTAssertEqual(zip(images, want).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-5)
    }

    func testNormalisationFromTheTrainingSplitHasZeroMeanUnitStd() {
        let data = tinyDataset()
        let writer = BatchWriter(dataset: data, normalization: Normalization(trainingSet: data), augmentation: .none)
        var images = [Float](repeating: 0, count: data.count * data.imageSize)
        var labels = [Int32](repeating: 0, count: data.count)
        writer.write(indices: 0..<data.count, epoch: 0, seed: 0, images: &images, labels: &labels)
        let plane = data.height * data.width
        for c in 0..<data.channels {
            var values: [Double] = []
            for i in 0..<data.count { values += images[(i * data.channels + c) * plane..<(i * data.channels + c + 1) * plane].map(Double.init) }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            XCTAssertEqual(mean, 0, accuracy: 1e-4)
            XCTAssertEqual(variance, 1, accuracy: 1e-3)
        }
    }

    /// The data a global step sees (all ranks' batches in rank order) is the same for any world size.
    func testAugmentedGlobalBatchIsTheSameWhateverTheWorldSize() throws {
        let data = tinyDataset()
        let writer = BatchWriter(dataset: data, normalization: Normalization(trainingSet: data),
                                 augmentation: Augmentation(flip: true, padding: 4))
        func globalBatch(step: Int, world: Int) throws -> ([Float], [Int32]) {
            var images: [Float] = [], labels: [Int32] = []
            for rank in 0..<world {
                let sampler = try TrainSampler(count: data.count, globalBatch: 8, worldSize: world, rank: rank, seed: 3)
                var im = [Float](repeating: 0, count: sampler.localBatch * data.imageSize)
                var lb = [Int32](repeating: 0, count: sampler.localBatch)
                writer.write(indices: sampler.localIndices(globalStep: step), epoch: sampler.position(globalStep: step).epoch,
                             seed: 3, images: &im, labels: &lb)
                images += im
                labels += lb
            }
            return (images, labels)
        }
        for step in [0, 7, 8, 21] {
            let one = try globalBatch(step: step, world: 1)
            for world in [2, 4, 8] {
                let many = try globalBatch(step: step, world: world)
                XCTAssertEqual(one.0, many.0, "step \(step), world \(world)")
                XCTAssertEqual(one.1, many.1)
            }
        }
    }
}

final class LoaderTests: XCTestCase {
    func testPrefetchedBatchesEqualDirectWritesIncludingAResumeMidEpoch() throws {
        var config = DataConfig()
        config.dataset = .synthetic
        config.syntheticTrainCount = 100
        let data = try loadDataset(config, split: .train)
        let writer = BatchWriter(dataset: data, normalization: Normalization(trainingSet: data),
                                 augmentation: Augmentation(flip: true, padding: 4))
        let sampler = try TrainSampler(count: data.count, globalBatch: 16, worldSize: 2, rank: 1, seed: 5)
        var direct = [Float](repeating: 0, count: sampler.localBatch * data.imageSize)
        var labels = [Int32](repeating: 0, count: sampler.localBatch)
        for firstStep in [0, 4] {   // 6 steps an epoch: 4 resumes mid-epoch 0
            let loader = PrefetchingLoader(writer: writer, sampler: sampler, firstStep: firstStep, steps: 9)
            var step = firstStep
            while let batch = loader.next() {
                XCTAssertEqual(batch.globalStep, step)
                XCTAssertEqual(batch.epoch, step / 6)
                writer.write(indices: sampler.localIndices(globalStep: step), epoch: step / 6, seed: 5,
                             images: &direct, labels: &labels)
                XCTAssertEqual(Array(UnsafeBufferPointer(start: batch.images, count: direct.count)), direct)
                XCTAssertEqual(Array(UnsafeBufferPointer(start: batch.labels, count: labels.count)), labels)
                step += 1
            }
            XCTAssertEqual(step, firstStep + 9)
        }
    }

    func testStoppingEarlyAndDroppingALoaderEndTheThread() throws {
        var config = DataConfig()
        config.dataset = .synthetic
        let data = try loadDataset(config, split: .train)
        let writer = BatchWriter(dataset: data, normalization: Normalization(trainingSet: data), augmentation: .none)
        let sampler = try TrainSampler(count: data.count, globalBatch: 32, worldSize: 1, rank: 0, seed: 0)
        let endless = PrefetchingLoader(writer: writer, sampler: sampler)
        for _ in 0..<100 { XCTAssertNotNil(endless.next()) }
        endless.stop()
        endless.stop()
        XCTAssertNil(endless.next(), "a stopped loader hands out nothing")
        for _ in 0..<20 {
            let dropped = PrefetchingLoader(writer: writer, sampler: sampler, firstStep: 3)
            _ = dropped.next()
        }
    }
}
