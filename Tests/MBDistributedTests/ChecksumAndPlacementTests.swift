import Foundation
import XCTest
import MBCore
@testable import MBDistributed

/// The parameter checksum, the ranks that differ from rank 0, the world without a launcher and
/// what a rank reports about its placement.
final class ChecksumAndPlacementTests: XCTestCase {
    func sum(_ values: [Float]) -> UInt64 { values.withUnsafeBufferPointer(checksum) }

    func testChecksumSeesEveryBitAndTheOrder() {
        let values: [Float] = [0.1, -2, 3e-8, 0]
        XCTAssertEqual(sum([]), 0xcbf2_9ce4_8422_2325, "the FNV-1a offset basis")
        XCTAssertEqual(sum(values), sum(values))
        XCTAssertNotEqual(sum(values), sum([0.1, -2, 3e-8, -0.0]), "one sign bit")
        XCTAssertNotEqual(sum(values), sum([0.1, -2, Float(3e-8).nextUp, 0]), "one ulp")
        XCTAssertNotEqual(sum(values), sum([-2, 0.1, 3e-8, 0]), "swapped elements")
    }

    func testRanksDifferingFromRootAreNamedOnEveryRank() throws {
        func differing(_ checksums: [UInt64]) throws -> [[Int]] {
            try ThreadWorld(size: checksums.count).run { try ranksDiffering(fromRoot: checksums[$0.rank], in: $0) }.map { try $0.get() }
        }
        XCTAssertEqual(try differing([5, 5, 5]), [[], [], []])
        XCTAssertEqual(try differing([5, 5, 9, 7]), Array(repeating: [2, 3], count: 4))
        XCTAssertEqual(try differing([1, 5]), [[1], [1]])
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
        // Its collectives are the identity.
        var values: [Float] = [1.5, -2]
        try values.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        XCTAssertEqual(values, [1.5, -2])
        XCTAssertEqual(try world.allgather(7), [7])
        XCTAssertEqual(try world.gather("here", root: 0), ["here"])
        XCTAssertEqual(try world.broadcast("text", root: 0), "text")
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
        // The kernel's list of CPU flags says the same about AVX2, FMA, BMI2 and AVX-512.
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        let avx2 = flags.isSuperset(of: ["avx2", "fma", "bmi2"])
        let avx512 = avx2 && flags.isSuperset(of: ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"])
        XCTAssertEqual(SignTableKernels.runnable, (avx512 ? [.avx512] : []) + (avx2 ? [.avx2] : []))
        if ProcessInfo.processInfo.environment["MBC_SIGN_TABLES"] == nil {
            XCTAssertEqual(info.signTables, avx512 ? "avx512" : avx2 ? "avx2" : "off (no AVX2: OpenBLAS)")
        }
    }
}
