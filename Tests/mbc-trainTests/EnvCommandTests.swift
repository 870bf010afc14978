import Foundation
import MBCore
import MBTestSupport
import XCTest

/// Runs the built `mbc-train env`, alone and under `mpirun -np 2`.
final class EnvCommandTests: XCTestCase, CommandRunning {
    func testTwoRanksReportTheirPlacesAndPassTheCollectives() throws {
        // 64 KiB buckets: the 32 771-float check spans two full buckets and a ragged third.
        let arguments = ["-np", "2", "--oversubscribe", try binary(), "env", "--bucket-bytes", "65536", "--bandwidth"]
        let (status, output) = try run(try mpirun(), arguments)
        XCTAssertEqual(status, 0, output)
        let lines = output.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("world: 2 ranks (MPI)"), output)
        for rank in 0..<2 {
            XCTAssertTrue(lines.contains { $0.hasPrefix("rank \(rank): host ") && $0.contains(", cpus ") && $0.contains(", blas threads ")
                                           && $0.contains(", blas kernels ") }, output)
        }
        XCTAssertEqual(lines.filter { $0.hasPrefix("allreduce 64 MiB") && $0.contains(" GB/s MPI_Allreduce, ") && $0.contains(" GB/s ring (training's) ") }.count, 3, output)
        XCTAssertEqual(lines.last, "collectives: ok", output)
    }

    /// Three ranks: the ring sum's chunks and steps for a world that does not divide the buffers.
    func testThreeRanksPassTheCollectives() throws {
        let (status, output) = try run(try mpirun(), ["-np", "3", "--oversubscribe", try binary(), "env", "--bucket-bytes", "65536"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.hasPrefix("world: 3 ranks (MPI)\n"), output)
        XCTAssertTrue(output.hasSuffix("collectives: ok\n"), output)
    }

    func testWithoutALauncherTheWorldIsOneProcess() throws {
        let (status, output) = try run(try binary(), ["env"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.hasPrefix("world: 1 rank (no MPI launcher: single process)\nrank 0: host "), output)
        XCTAssertTrue(output.hasSuffix("collectives: ok\n"), output)
    }

    /// Each rank chooses OpenBLAS's kernels itself and says which, and who chose them.
    func testEnvNamesTheBLASKernelsAndWhoChoseThem() throws {
        let preferred = BLASCore.preferred(for: .current)
        let mbc = try run(try binary(), ["env"], environment: ["OPENBLAS_CORETYPE": nil])
        XCTAssertEqual(mbc.status, 0, mbc.output)
        let expected = preferred.first.map { ", blas kernels \($0.name) (chosen by mbc), " } ?? " (OpenBLAS's own pick), "
        XCTAssertTrue(mbc.output.contains(expected), mbc.output)

        let user = try run(try binary(), ["env"], environment: ["OPENBLAS_CORETYPE": "Prescott"])  // any x86-64 runs it
        XCTAssertEqual(user.status, 0, user.output)
        XCTAssertTrue(user.output.contains(", blas kernels Prescott (OPENBLAS_CORETYPE), "), user.output)
    }

    /// The sign-table build in use is named on every rank's line; `MBC_SIGN_TABLES` chooses
    /// another the CPU runs, or OpenBLAS.
    func testEnvNamesTheSignTablesAndTheVariableChoosesThem() throws {
        let best = try run(try binary(), ["env"], environment: ["MBC_SIGN_TABLES": nil])
        XCTAssertEqual(best.status, 0, best.output)
        XCTAssertTrue(best.output.contains("sign tables \(SignTableKernels.runnable.first?.rawValue ?? "off (no AVX2: OpenBLAS)")\n"), best.output)
        let off = try run(try binary(), ["env"], environment: ["MBC_SIGN_TABLES": "off"])
        XCTAssertTrue(off.output.contains("sign tables off (MBC_SIGN_TABLES)\n"), off.output)
        if let last = SignTableKernels.runnable.last {
            let chosen = try run(try binary(), ["env"], environment: ["MBC_SIGN_TABLES": last.rawValue])
            XCTAssertTrue(chosen.output.contains("sign tables \(last.rawValue) (MBC_SIGN_TABLES)\n"), chosen.output)
        }
    }
}
