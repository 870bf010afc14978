import Foundation
import MBBase
import MBCore
import MBDistributed

/// The gradient allreduce of one training step: the flat gradient buffer summed over the ranks
/// in buckets, either each bucket as soon as backward has completed every gradient in it
/// (overlapped) or all of them after backward.
///
/// The buckets are fixed ranges of the buffer, cut from its end (backward completes the last
/// layers' gradients first, and those sit at the end), and each is one
/// `Communicator.startAllreduceSum`, whose summation order depends only on the values and the
/// bucket's length. So overlapped or not, the sums are bitwise the same; only the time differs.
final class GradientExchange {
    let world: Communicator
    let gradients: UnsafeMutableBufferPointer<Float>
    /// Set between steps only (the ranks must agree on it: it sets the order in which they start
    /// the buckets' sums).
    var overlapped: Bool
    /// Bucket b covers `buckets[b]` of the gradient buffer.
    let buckets: [Range<Int>]
    /// For each tensor (by index), the buckets it overlaps.
    private let bucketsOfTensor: [[Int]]
    /// How many tensors of each bucket have no complete gradient yet, this step.
    private var waitingTensors: [Int]
    private let tensorsPerBucket: [Int]
    private var started: [PendingSum?]
    /// The first error of a sum started during backward, thrown by `finish()`.
    private var failure: Error?
    /// How long the last `finish()` took: the allreduce's time after backward.
    private(set) var lastFinishSeconds = 0.0

    init(world: Communicator, parameters: TensorStore, bucketFloats: Int, overlapped: Bool) {
        self.world = world
        gradients = UnsafeMutableBufferPointer(start: parameters.gradients!.pointer, count: parameters.count)
        self.overlapped = overlapped
        let ranges = bucketRanges(count: parameters.count, bucketFloats: bucketFloats)
        buckets = ranges
        bucketsOfTensor = parameters.infos.map { info in
            let tensor = info.offset..<(info.offset + info.count)
            return ranges.indices.filter { ranges[$0].overlaps(tensor) }
        }
        var counts = [Int](repeating: 0, count: buckets.count)
        for list in bucketsOfTensor { for b in list { counts[b] += 1 } }
        tensorsPerBucket = counts
        waitingTensors = counts
        started = Array(repeating: nil, count: buckets.count)
    }

    /// Called after each backward step with the tensors whose gradients it completed: starts the
    /// buckets that are now complete (when overlapped) and moves the started ones on.
    func stepDone(completed: [TensorRef]) {
        guard overlapped, failure == nil else { return }
        do {
            for t in completed {
                for b in bucketsOfTensor[t.index] {
                    waitingTensors[b] -= 1
                    if waitingTensors[b] == 0 { try start(b) }
                }
            }
            for sum in started { _ = try sum?.advance() }
        } catch {
            failure = error
        }
    }

    /// After backward: starts every bucket not started yet, waits for all, and gets ready for the
    /// next step. The gradient buffer then holds the sums.
    func finish() throws {
        let began = DispatchTime.now().uptimeNanoseconds
        defer {
            lastFinishSeconds = Double(DispatchTime.now().uptimeNanoseconds - began) * 1e-9
            started = Array(repeating: nil, count: buckets.count)
            waitingTensors = tensorsPerBucket
        }
        if let failure { self.failure = nil; throw failure }
        // The last buckets first: their order does not change any sum, and these were complete first.
        for b in buckets.indices.reversed() where started[b] == nil { try start(b) }
        for sum in started { try sum?.wait() }
    }

    private func start(_ b: Int) throws {
        started[b] = try world.startAllreduceSum(UnsafeMutableBufferPointer(rebasing: gradients[buckets[b]]))
    }
}

/// Consecutive ranges of at most `bucketFloats` covering 0..<count, cut from the end: every
/// bucket is full but the first.
func bucketRanges(count: Int, bucketFloats: Int) -> [Range<Int>] {
    precondition(bucketFloats > 0)
    var ranges: [Range<Int>] = []
    var end = count
    while end > 0 {
        let start = max(0, end - bucketFloats)
        ranges.append(start..<end)
        end = start
    }
    return ranges.reversed()
}

/// How `distributed.overlap: auto` chooses across hosts: the first step of a `train` call is left
/// out (warm-up), the next `measuredSteps` run with the allreduce after backward, and each rank
/// measures the share of its step spent in the allreduce. The smallest share over the ranks is
/// the transfer itself (a rank that finished backward last did not wait for the others); above
/// `threshold`, the rest of the call overlaps. Both ways give bitwise the same sums, so the choice
/// changes only the time.
struct OverlapProbe {
    static let measuredSteps = 3
    static let threshold = 0.05
    var stepsSeen = 0
    var allreduceSeconds = 0.0
    var stepSeconds = 0.0

    /// Adds a step of `stepSeconds`, `allreduceSeconds` of them in the allreduce after backward;
    /// after the last measured step the ranks agree on the share and `choose` is called. Nil once
    /// chosen. Every rank calls it at every step until then.
    func adding(stepSeconds: Double, allreduceSeconds: Double, world: Communicator,
                choose: (_ overlapped: Bool, _ fraction: Double) -> Void) throws -> OverlapProbe? {
        var next = self
        next.stepsSeen += 1
        guard next.stepsSeen > 1 else { return next }
        next.stepSeconds += stepSeconds
        next.allreduceSeconds += allreduceSeconds
        guard next.stepsSeen == 1 + Self.measuredSteps else { return next }
        let mine = next.allreduceSeconds / max(next.stepSeconds, 1e-9)
        let fraction = try world.allgather(mine.bitPattern).map { Double(bitPattern: $0) }.min() ?? mine
        choose(fraction > Self.threshold, fraction)
        return nil
    }
}

/// The number of different hosts the ranks run on (by host name); every rank calls it.
func hostCount(_ world: Communicator) throws -> Int {
    var hash = FNV1a()
    hash.add(bytes: hostName().utf8)
    return Set(try world.allgather(hash.value)).count
}
