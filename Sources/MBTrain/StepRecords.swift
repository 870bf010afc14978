import Foundation
import MBDistributed

/// A few numbers the ranks exchange in one collective, sent as an array of Doubles. `layout` is
/// the one place that orders them on the wire.
protocol CollectiveRecord {
    init()
    static var layout: [WritableKeyPath<Self, Double>] { get }
}

extension CollectiveRecord {
    var wire: [Double] { Self.layout.map { self[keyPath: $0] } }

    init(wire: [Double]) {
        self.init()
        for (field, value) in zip(Self.layout, wire) { self[keyPath: field] = value }
    }

    /// Every field summed over the ranks (one allreduce).
    func summed(over world: Communicator) throws -> Self {
        var values = wire
        try values.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        return Self(wire: values)
    }

    /// `root`'s record on every rank (one broadcast).
    func broadcast(from root: Int, over world: Communicator) throws -> Self {
        var values = wire
        try values.withUnsafeMutableBytes { try world.broadcast($0, root: root) }
        return Self(wire: values)
    }
}

/// What one training step computed on this rank, before the ranks agree.
struct StepResult {
    var lossSum: Double
    var top1Hits: Int
    var images: Int
}

/// The ranks' agreement after a step: loss, hits and images summed over the world, and whether any
/// rank saw a non-finite loss or a stop request. Every rank gets the same agreement, so every rank
/// makes the same decision at the step boundary.
struct StepAgreement: CollectiveRecord {
    var lossSum = 0.0
    var top1Hits = 0.0
    var images = 0.0
    /// The number of ranks whose loss was not finite.
    var nonFiniteRanks = 0.0
    /// The number of ranks asked to stop.
    var stoppingRanks = 0.0

    static let layout: [WritableKeyPath<StepAgreement, Double>] = [\.lossSum, \.top1Hits, \.images, \.nonFiniteRanks, \.stoppingRanks]

    init() {}

    /// This rank's contribution.
    init(_ local: StepResult, stopRequested: Bool) {
        lossSum = local.lossSum
        top1Hits = Double(local.top1Hits)
        images = Double(local.images)
        nonFiniteRanks = local.lossSum.isFinite ? 0 : 1
        stoppingRanks = stopRequested ? 1 : 0
    }

    var lossIsFinite: Bool { nonFiniteRanks == 0 }
    var stop: Bool { stoppingRanks > 0 }
}

/// The training loss, top-1 hits and images of the current epoch over all ranks, and when it began
/// (for the epoch's throughput).
struct EpochTotals {
    var lossSum = 0.0
    var top1Hits = 0.0
    var images = 0.0
    let started = Date()

    mutating func add(_ step: StepAgreement) {
        lossSum += step.lossSum
        top1Hits += step.top1Hits
        images += step.images
    }

    var meanLoss: Double { lossSum / max(images, 1) }
    var top1: Double { top1Hits / max(images, 1) }
    var imagesPerSecond: Double { images / max(Date().timeIntervalSince(started), 1e-9) }
}

/// Images trained since the last progress report, for its throughput.
struct ThroughputWindow {
    private var images = 0.0
    private var started = Date()

    mutating func add(images more: Double) { images += more }

    /// Images per second since the window began; starts the next window.
    mutating func restart() -> Double {
        let now = Date()
        defer { images = 0; started = now }
        return images / max(now.timeIntervalSince(started), 1e-9)
    }
}

/// Loss and top-1/top-5 hits over scored test samples, on one rank or summed over all.
struct EvalTotals: CollectiveRecord {
    var lossSum = 0.0
    var top1Hits = 0.0
    var top5Hits = 0.0
    var samples = 0.0

    static let layout: [WritableKeyPath<EvalTotals, Double>] = [\.lossSum, \.top1Hits, \.top5Hits, \.samples]
}

/// The facts of a checkpoint that rank 0 read and every rank needs.
struct CheckpointHeader: CollectiveRecord {
    var step = 0.0
    var worldSize = 0.0
    var elapsedSeconds = 0.0
    var bestTop1 = 0.0
    var seed = 0.0

    static let layout: [WritableKeyPath<CheckpointHeader, Double>] = [\.step, \.worldSize, \.elapsedSeconds, \.bestTop1, \.seed]

    init() {}

    init(_ c: Checkpoint) {
        step = Double(c.step)
        worldSize = Double(c.worldSize)
        elapsedSeconds = c.elapsedSeconds
        bestTop1 = c.bestTop1
        seed = Double(c.seed)
    }
}
