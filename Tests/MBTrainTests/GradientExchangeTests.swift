import MBCore
import MBDistributed
@testable import MBTrain
import XCTest

/// Which buckets of the gradient buffer the exchange sums, and when: overlapped, each bucket as
/// soon as every tensor in it is complete; otherwise all after backward.
final class GradientExchangeTests: XCTestCase {
    func testBucketsAreCutFromTheEnd() {
        XCTAssertEqual(bucketRanges(count: 10, bucketFloats: 4), [0..<2, 2..<6, 6..<10])
        XCTAssertEqual(bucketRanges(count: 8, bucketFloats: 4), [0..<4, 4..<8])
        XCTAssertEqual(bucketRanges(count: 3, bucketFloats: 4), [0..<3])
        XCTAssertEqual(bucketRanges(count: 0, bucketFloats: 4), [])
    }

    /// Tensors of 3, 5 and 4 floats in 4-float buckets [0, 4), [4, 8), [8, 12): the first bucket
    /// holds parts of tensors 0 and 1, the second only of tensor 1, the third is tensor 2.
    func makeExchange(overlapped: Bool) -> (GradientExchange, RecordingWorld, [TensorRef]) {
        let store = TensorStore(withGradients: true)
        let tensors = [3, 5, 4].enumerated().map { store.declare("t\($0.offset)", shape: [$0.element], group: "test") }
        store.allocate()
        let world = RecordingWorld(gradients: store.gradients!.pointer)
        return (GradientExchange(world: world, parameters: store, bucketFloats: 4, overlapped: overlapped), world, tensors)
    }

    func testOverlappedBucketsStartWhenTheirLastTensorIsComplete() throws {
        let (exchange, world, t) = makeExchange(overlapped: true)
        for _ in 0..<2 {   // and the same again the next step
            world.started = []
            exchange.stepDone(completed: [t[2]])
            XCTAssertEqual(world.started, [8..<12])
            exchange.stepDone(completed: [])
            XCTAssertEqual(world.started, [8..<12])
            XCTAssertGreaterThan(world.advances, 0, "started sums are moved on after each step")
            exchange.stepDone(completed: [t[1]])
            XCTAssertEqual(world.started, [8..<12, 4..<8], "the first bucket still waits for tensor 0")
            exchange.stepDone(completed: [t[0]])
            XCTAssertEqual(world.started, [8..<12, 4..<8, 0..<4])
            world.waits = 0
            try exchange.finish()
            XCTAssertEqual(world.started.count, 3, "nothing is started twice")
            XCTAssertEqual(world.waits, 3)
        }
    }

    func testBlockingBucketsAllStartAfterBackward() throws {
        let (exchange, world, t) = makeExchange(overlapped: false)
        exchange.stepDone(completed: [t[2]])
        exchange.stepDone(completed: [t[1], t[0]])
        XCTAssertEqual(world.started, [])
        try exchange.finish()
        XCTAssertEqual(world.started, [8..<12, 4..<8, 0..<4])
        XCTAssertEqual(world.waits, 3)
    }

    /// A sum that fails while backward runs is thrown by `finish()`, once.
    func testAFailedStartDuringBackwardIsThrownAtTheEnd() throws {
        let (exchange, world, t) = makeExchange(overlapped: true)
        world.failStarts = true
        exchange.stepDone(completed: [t[2]])
        XCTAssertThrowsError(try exchange.finish()) { XCTAssertTrue("\($0)".contains("refused"), "\($0)") }
        world.failStarts = false
        world.started = []
        exchange.stepDone(completed: [t[2], t[1], t[0]])
        try exchange.finish()
        XCTAssertEqual(world.started, [8..<12, 4..<8, 0..<4])
    }
}

/// `distributed.overlap: auto` across hosts: the first step is left out, the next three are
/// measured, and the ranks overlap when the smallest share of a step in the allreduce is above 5 %.
final class OverlapProbeTests: XCTestCase {
    /// Each rank's (step, allreduce) seconds per step; what every rank chose, and after which step.
    func choices(_ timings: [[(Double, Double)]]) throws -> [(step: Int, overlapped: Bool, fraction: Double)?] {
        try ThreadWorld(size: timings.count).run { world -> (step: Int, overlapped: Bool, fraction: Double)? in
            var probe: OverlapProbe? = OverlapProbe()
            var chosen: (step: Int, overlapped: Bool, fraction: Double)?
            for (step, (seconds, allreduce)) in timings[world.rank].enumerated() {
                guard let measuring = probe else { break }
                probe = try measuring.adding(stepSeconds: seconds, allreduceSeconds: allreduce, world: world) {
                    XCTAssertNil(chosen, "chosen twice")
                    chosen = (step, $0, $1)
                }
            }
            return chosen
        }.map { try $0.get() }
    }

    func testTheLeastShareOverTheRanksDecidesAfterTheFourthStep() throws {
        // The first step (a slow warm-up) is left out; rank 1 waited for rank 0 in the allreduce.
        let slowLink = try choices([[(9, 8), (1, 0.10), (1, 0.08), (1, 0.06), (1, 0.5)],
                                    [(9, 8), (1, 0.30), (1, 0.40), (1, 0.35), (1, 0.5)]])
        for c in slowLink {
            let chosen = try XCTUnwrap(c)
            XCTAssertEqual(chosen.step, 3)
            XCTAssertTrue(chosen.overlapped)
            XCTAssertEqual(chosen.fraction, 0.08, accuracy: 1e-12)
        }
        let fastLink = try choices([[(9, 8), (1, 0.01), (1, 0.02), (1, 0.03)], [(9, 8), (1, 0.2), (1, 0.2), (1, 0.2)]])
        for c in fastLink {
            let chosen = try XCTUnwrap(c)
            XCTAssertFalse(chosen.overlapped, "rank 0's 2 % is the transfer; rank 1 waited for rank 0")
            XCTAssertEqual(chosen.fraction, 0.02, accuracy: 1e-12)
        }
        XCTAssertNil(try choices([[(9, 8), (1, 0.3), (1, 0.3)]])[0], "no choice before the fourth step")
    }
}

/// A world of one rank that records which ranges of the gradient buffer are summed.
final class RecordingWorld: Communicator {
    let gradients: UnsafeMutablePointer<Float>
    var started: [Range<Int>] = []
    var advances = 0
    var waits = 0
    var failStarts = false

    init(gradients: UnsafeMutablePointer<Float>) { self.gradients = gradients }

    final class Sum: PendingSum {
        let world: RecordingWorld
        init(_ world: RecordingWorld) { self.world = world }
        func advance() throws -> Bool { world.advances += 1; return false }
        func wait() throws { world.waits += 1 }
    }

    var rank: Int { 0 }
    var size: Int { 2 }
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingSum {
        if failStarts { throw DistributedError("the test refused the sum") }
        let start = buffer.baseAddress! - gradients
        started.append(start..<(start + buffer.count))
        return Sum(self)
    }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func allgather(_ value: UInt64) throws -> [UInt64] { [value, value] }
    func gather(_ text: String, root: Int) throws -> [String]? { [text, text] }
    func barrier() throws {}
    func finalize() throws {}
    func abort(code: Int32) -> Never { fatalError("abort \(code)") }
}
