/// Which training samples each rank reads at each global step. A pure function of
/// (seed, epoch, rank, world size, global batch): epoch e's order is a permutation drawn from
/// (seed, e); global batch b of the epoch is order[b*G ..< (b+1)*G] whatever the world size, and
/// rank r takes its slice [r*G/W ..< (r+1)*G/W]. The last partial batch of an epoch is dropped,
/// so every rank reads the same number of samples.
public struct TrainSampler: Equatable, Sendable {
    public let count: Int
    public let globalBatch: Int
    public let worldSize: Int
    public let rank: Int
    public let seed: UInt64

    public init(count: Int, globalBatch: Int, worldSize: Int, rank: Int, seed: UInt64) throws {
        guard worldSize >= 1, rank >= 0, rank < worldSize else {
            throw DataError("rank \(rank) of world size \(worldSize): expected 0 <= rank < world size.")
        }
        guard globalBatch >= 1, globalBatch % worldSize == 0 else {
            throw DataError("the global batch \(globalBatch) is not divisible by the world size \(worldSize); choose a batch that is a multiple of the number of ranks (e.g. \(max(1, globalBatch / worldSize) * worldSize)).")
        }
        guard globalBatch <= count else {
            throw DataError("the global batch \(globalBatch) is larger than the \(count) training samples; lower the batch size.")
        }
        self.count = count
        self.globalBatch = globalBatch
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
    }

    /// Full global batches per epoch (the last partial one is dropped).
    public var stepsPerEpoch: Int { count / globalBatch }
    /// Samples this rank reads per step.
    public var localBatch: Int { globalBatch / worldSize }

    /// The sample order of `epoch`: a permutation of 0..<count.
    public func order(epoch: Int) -> [Int] {
        seededPermutation(count: count, seed: counterHash(RandomPurpose.epochOrder.rawValue, seed, UInt64(epoch)))
    }

    /// The epoch and position in it of a global step.
    public func position(globalStep: Int) -> (epoch: Int, batch: Int) {
        (globalStep / stepsPerEpoch, globalStep % stepsPerEpoch)
    }

    /// This rank's samples of batch `batch` of an epoch whose `order` is given.
    public func localIndices(order: [Int], batch: Int) -> ArraySlice<Int> {
        let start = batch * globalBatch + rank * localBatch
        return order[start..<start + localBatch]
    }

    /// This rank's samples at `globalStep` (recomputes the epoch's order; loaders cache it).
    public func localIndices(globalStep: Int) -> ArraySlice<Int> {
        let (epoch, batch) = position(globalStep: globalStep)
        return localIndices(order: order(epoch: epoch), batch: batch)
    }
}

/// Evaluation sharding: every test sample is scored exactly once across ranks, and every rank
/// runs the same number of batches (so collectives match). Rank r owns the contiguous range
/// [r*N/W, (r+1)*N/W); shards differ by at most one sample, and a rank whose shard runs out one
/// batch early gets a last batch of its final sample repeated, flagged as not counted.
public struct EvalShard: Equatable, Sendable {
    public let samples: Range<Int>
    public let batchSize: Int
    public let batchCount: Int

    /// One batch: `indices` to run, of which the first `counted` are scored.
    public struct Batch: Equatable, Sendable {
        public var indices: [Int]
        public var counted: Int
    }

    public init(count: Int, batchSize: Int, worldSize: Int, rank: Int) throws {
        guard count >= worldSize else {
            throw DataError("the test split has \(count) samples, fewer than the \(worldSize) ranks; run with fewer ranks.")
        }
        guard batchSize >= 1 else { throw DataError("the evaluation batch is \(batchSize); it must be at least 1.") }
        samples = rank * count / worldSize ..< (rank + 1) * count / worldSize
        self.batchSize = batchSize
        let largest = (count + worldSize - 1) / worldSize
        batchCount = (largest + batchSize - 1) / batchSize
    }

    public func batch(_ b: Int) -> Batch {
        let start = samples.lowerBound + b * batchSize
        let end = min(start + batchSize, samples.upperBound)
        guard start < end else { return Batch(indices: [samples.upperBound - 1], counted: 0) }
        return Batch(indices: Array(start..<end), counted: end - start)
    }
}
