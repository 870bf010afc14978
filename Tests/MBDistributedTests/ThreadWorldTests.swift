import Foundation
@testable import MBDistributed
import XCTest

/// The thread-backed world against what each collective must do: sums against a plain loop,
/// broadcasts from any root, results in rank order, a barrier nobody passes early, and failures
/// that every rank sees instead of a hang.
final class ThreadWorldTests: XCTestCase {
    /// Every rank's result, or the test fails naming the rank that threw.
    func values<T>(_ results: [Result<T, Error>], file: StaticString = #filePath, line: UInt = #line) -> [T] {
        results.enumerated().compactMap { rank, result in
            do { return try result.get() } catch {
                XCTFail("rank \(rank) threw: \(error)", file: file, line: line)
                return nil
            }
        }
    }

    /// Every rank's error text (empty for a rank that did not throw).
    func errors<T>(_ results: [Result<T, Error>]) -> [String] {
        results.map { result in
            guard case .failure(let error) = result else { return "" }
            return (error as? DistributedError)?.message ?? "not a DistributedError: \(error)"
        }
    }

    /// Rank r's `count` values: fractions without an exact binary form, so the order of the
    /// additions shows in the low bits.
    func contribution(rank: Int, count: Int) -> [Double] {
        (0..<count).map { (Double($0 % 97) - 48.3) * Double(rank + 1) / 7 }
    }

    func testSumsEqualALoopOverTheRanksInOrder() throws {
        let ranks = 4, count = 1001
        let sums = values(ThreadWorld(size: ranks).run { world -> ([Float], [Double]) in
            var floats = self.contribution(rank: world.rank, count: count).map { Float($0) }
            var doubles = self.contribution(rank: world.rank, count: count)
            try floats.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
            try doubles.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
            return (floats, doubles)
        })
        XCTAssertEqual(sums.count, ranks)
        let contributions = (0..<ranks).map { contribution(rank: $0, count: count) }
        var expectedFloats = contributions[0].map { Float($0) }, expectedDoubles = contributions[0]
        for rank in 1..<ranks {
            for i in 0..<count {
                expectedFloats[i] += Float(contributions[rank][i])
                expectedDoubles[i] += contributions[rank][i]
            }
        }
        for (rank, (floats, doubles)) in sums.enumerated() {
            XCTAssertNil(floats.indices.first { floats[$0].bitPattern != expectedFloats[$0].bitPattern }, "rank \(rank)'s float sums")
            XCTAssertNil(doubles.indices.first { doubles[$0].bitPattern != expectedDoubles[$0].bitPattern }, "rank \(rank)'s double sums")
        }
        // An empty buffer is a valid allreduce.
        XCTAssertEqual(values(ThreadWorld(size: 2).run { world -> Int in
            var none: [Float] = []
            try none.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
            return none.count
        }), [0, 0])
    }

    func testBroadcastCopiesTheRootsBytesFromAnyRoot() throws {
        let pattern = (0..<999).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for root in [0, 2] {
            let received = values(ThreadWorld(size: 3).run { world -> [UInt8] in
                var bytes = world.rank == root ? pattern : [UInt8](repeating: UInt8(world.rank), count: pattern.count)
                try bytes.withUnsafeMutableBytes { try world.broadcast($0, root: root) }
                return bytes
            })
            XCTAssertEqual(received, Array(repeating: pattern, count: 3), "root \(root)")
        }
        let texts = values(ThreadWorld(size: 3).run { try $0.broadcast($0.rank == 1 ? "from rank one ✓" : "ignored", root: 1) })
        XCTAssertEqual(texts, Array(repeating: "from rank one ✓", count: 3))
    }

    func testGatherAndAllgatherListTheRanksInOrder() throws {
        let gathered = values(ThreadWorld(size: 4).run { try $0.gather("rank \($0.rank)" + String(repeating: "+", count: $0.rank), root: 2) })
        XCTAssertEqual(gathered, [nil, nil, ["rank 0", "rank 1+", "rank 2++", "rank 3+++"], nil])
        let all = values(ThreadWorld(size: 3).run { try $0.allgather(UInt64(100 + $0.rank)) })
        XCTAssertEqual(all, Array(repeating: [100, 101, 102], count: 3))
    }

    func testNoRankLeavesTheBarrierBeforeEveryRankReachedIt() throws {
        final class Arrivals: @unchecked Sendable {
            let lock = NSLock()
            var count = 0
        }
        let arrivals = Arrivals()
        let seen = values(ThreadWorld(size: 3).run { world -> Int in
            usleep(UInt32(20_000 * world.rank))   // the last rank arrives 40 ms after the first
            arrivals.lock.lock()
            arrivals.count += 1
            arrivals.lock.unlock()
            try world.barrier()
            arrivals.lock.lock()
            defer { arrivals.lock.unlock() }
            return arrivals.count
        })
        XCTAssertEqual(seen, [3, 3, 3])
    }

    func testConsecutiveCollectivesDoNotMix() throws {
        // Each rank runs many small collectives back to back; a rank that ran ahead into the next
        // one must not disturb the one the others are still leaving.
        let totals = values(ThreadWorld(size: 3).run { world -> [Double] in
            try (0..<200).map { round in
                var value = [Double(round * 10 + world.rank)]
                try value.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
                return value[0]
            }
        })
        XCTAssertEqual(totals, Array(repeating: (0..<200).map { Double($0 * 30 + 3) }, count: 3))
    }

    func testAbortFailsEveryRanksPendingAndLaterCollectives() {
        let results = ThreadWorld(size: 3).run { world -> String in
            try world.barrier()
            if world.rank == 1 {
                usleep(20_000)   // ranks 0 and 2 are waiting in the allreduce by now
                world.abort(code: 3)
            }
            var value: [Float] = [1]
            do {
                try value.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
            } catch {
                // A later collective fails the same way.
                XCTAssertThrowsError(try world.barrier()) { XCTAssertEqual("\($0)", "\(error)") }
                throw error
            }
            return "the allreduce completed"
        }
        XCTAssertEqual(errors(results), Array(repeating: "rank 1 aborted the world with exit code 3.", count: 3))
    }

    func testARankThatEndsItsWorkFailsTheCollectivesWaitingForIt() {
        // Rank 1 ends while rank 0 waits; on a loaded machine rank 0 may reach the barrier only
        // after rank 1 has ended, which is the second case below: either way rank 0 fails, naming rank 1.
        let results = ThreadWorld(size: 2).run { world -> Void in
            if world.rank == 0 { try world.barrier() } else { usleep(100_000) }
        }
        XCTAssertTrue(["rank 1 has ended its work while other ranks wait in barrier.",
                       "rank 1 has ended its work, so rank 0's barrier can never complete."].contains(errors(results)[0]),
                      "\(errors(results))")
        XCTAssertEqual(errors(results)[1], "")
        // Arriving after the other rank ended fails at once too.
        let late = ThreadWorld(size: 2).run { world -> Void in
            if world.rank == 0 {
                usleep(20_000)
                try world.barrier()
            }
        }
        XCTAssertEqual(errors(late), ["rank 1 has ended its work, so rank 0's barrier can never complete.", ""])
    }

    func testDifferentCollectivesOnDifferentRanksFailOnEveryRank() {
        let results = ThreadWorld(size: 2).run { world -> Void in
            var values = [Float](repeating: 0, count: 4 + world.rank)
            try values.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        }
        let expected = "the ranks called different collectives: rank 0 allreduceSum of 4 floats, rank 1 allreduceSum of 5 floats."
        XCTAssertEqual(errors(results), [expected, expected])
        let outside = ThreadWorld(size: 2).run { world -> [String]? in try world.gather("x", root: 2) }
        XCTAssertEqual(errors(outside), Array(repeating: "root rank 2 is outside the world of 2 ranks.", count: 2))
    }

    /// The self-check `mbc-train env` runs passes on a real multi-rank world, and reports a rank
    /// whose float sums come back wrong.
    func testTheCollectivesSelfCheckPassesAndCatchesAWrongSum() {
        XCTAssertEqual(values(ThreadWorld(size: 3).run { try checkCollectives($0, floats: 1000) }), [[], [], []])
        let reports = values(ThreadWorld(size: 3).run { world in
            try checkCollectives(world.rank == 1 ? WrongFloatSums(world) : world, floats: 1000)
        })
        // Every rank learns from the checksums that rank 1 differs; rank 1 also names the element.
        let differs = "checksum of the reduced buffer differs from rank 0's on ranks [1]"
        XCTAssertEqual(reports[0], [differs])
        XCTAssertEqual(reports[2], [differs])
        XCTAssertEqual(reports[1], ["float allreduce: element 7 of 1000 is \(Float(6 * 8 + 1)), expected \(Float(6 * 8))", differs])
    }
}

/// A rank whose float allreduce adds 1 to element 7 of the true sum.
final class WrongFloatSums: Communicator {
    let world: Communicator
    init(_ world: Communicator) { self.world = world }
    var rank: Int { world.rank }
    var size: Int { world.size }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try world.allreduceSum(buffer)
        buffer[7] += 1
    }
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingSum { try world.startAllreduceSum(buffer) }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try world.allreduceSum(buffer) }
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws { try world.broadcast(buffer, root: root) }
    func allgather(_ value: UInt64) throws -> [UInt64] { try world.allgather(value) }
    func gather(_ text: String, root: Int) throws -> [String]? { try world.gather(text, root: root) }
    func barrier() throws { try world.barrier() }
    func finalize() throws { try world.finalize() }
    func abort(code: Int32) -> Never { world.abort(code: code) }
}
