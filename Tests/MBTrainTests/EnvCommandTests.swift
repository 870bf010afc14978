import Foundation
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
            XCTAssertTrue(lines.contains { $0.hasPrefix("rank \(rank): host ") && $0.contains(", cpus ") && $0.contains(", blas threads ") }, output)
        }
        XCTAssertEqual(lines.filter { $0.hasPrefix("allreduce 64 MiB") && $0.contains(" GB/s ") }.count, 3, output)
        XCTAssertEqual(lines.last, "collectives: ok", output)
    }

    func testWithoutALauncherTheWorldIsOneProcess() throws {
        let (status, output) = try run(try binary(), ["env"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.hasPrefix("world: 1 rank (no MPI launcher: single process)\nrank 0: host "), output)
        XCTAssertTrue(output.hasSuffix("collectives: ok\n"), output)
    }
}
