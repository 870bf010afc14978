import Foundation
import XCTest
@testable import MBDistributed

/// A world whose other ranks are simulated: `allgather` returns the given values.
final class FakeWorld: Communicator {
    let rank: Int
    let gathered: [UInt64]
    init(rank: Int, gathered: [UInt64]) { self.rank = rank; self.gathered = gathered }
    var size: Int { gathered.count }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func allgather(_ value: UInt64) throws -> [UInt64] {
        XCTAssertEqual(value, gathered[rank], "a rank contributes its own checksum")
        return gathered
    }
    func gather(_ text: String, root: Int) throws -> [String]? { nil }
    func barrier() throws {}
    func finalize() throws {}
    func abort(code: Int32) -> Never { fatalError("abort(\(code))") }
}

final class DistributedTests: XCTestCase {
    func sum(_ values: [Float]) -> UInt64 { values.withUnsafeBufferPointer(checksum) }

    func testChecksumSeesEveryBitAndTheOrder() {
        let values: [Float] = [0.1, -2, 3e-8, 0]
        XCTAssertEqual(sum([]), 0xcbf2_9ce4_8422_2325, "the FNV-1a offset basis")
        XCTAssertEqual(sum(values), sum(values))
        XCTAssertNotEqual(sum(values), sum([0.1, -2, 3e-8, -0.0]), "one sign bit")
        XCTAssertNotEqual(sum(values), sum([0.1, -2, Float(3e-8).nextUp, 0]), "one ulp")
        XCTAssertNotEqual(sum(values), sum([-2, 0.1, 3e-8, 0]), "swapped elements")
    }

    func testRanksDifferingFromRootAreNamed() throws {
        XCTAssertEqual(try ranksDiffering(fromRoot: 5, in: FakeWorld(rank: 1, gathered: [5, 5, 5])), [])
        XCTAssertEqual(try ranksDiffering(fromRoot: 9, in: FakeWorld(rank: 2, gathered: [5, 5, 9, 7])), [2, 3])
        XCTAssertEqual(try ranksDiffering(fromRoot: 4, in: SingleProcess()), [])
    }

    func testSingleProcessIsTheWorldWithoutALauncher() throws {
        XCTAssertFalse(launchedByMPI(environment: [:]))
        XCTAssertTrue(launchedByMPI(environment: ["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertTrue(launchedByMPI(environment: ["PMIX_RANK": "0"]))
        try XCTSkipIf(launchedByMPI(), "this test process itself runs under an MPI launcher")
        let world = try makeWorldCommunicator()
        XCTAssertTrue(world is SingleProcess)
        XCTAssertEqual([world.rank, world.size], [0, 1])
        XCTAssertEqual(try checkCollectives(world, floats: 1000), [])
        XCTAssertEqual(try world.gather("here", root: 0), ["here"])
    }

    func testRankInfoDescribesThisProcess() {
        XCTAssertEqual(cpuRanges([0, 1, 2, 5, 7, 8]), "0-2,5,7-8")
        XCTAssertEqual(cpuRanges([3]), "3")
        let info = RankInfo.current()
        XCTAssertTrue(ProcessInfo.processInfo.hostName.hasPrefix(info.host), "\(info.host)")
        // The kernel's own rendering of the same mask.
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let allowed = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        XCTAssertEqual(info.cpuSet, allowed.map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) })
        XCTAssertGreaterThanOrEqual(info.blasThreads, 1)
        // The kernel's list of CPU flags says the same about AVX2, FMA and BMI2.
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        XCTAssertEqual(info.signTables, flags.isSuperset(of: ["avx2", "fma", "bmi2"]))
    }
}
