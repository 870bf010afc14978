import Foundation
import XCTest

/// Runs the built `mbc-train env`, alone and under `mpirun -np 2`.
final class EnvCommandTests: XCTestCase {
    /// `mbc-train` sits beside the test bundle in `.build/<configuration>/`.
    func binary() throws -> String {
        let places = [Bundle.main.bundleURL, Bundle(for: Self.self).bundleURL,
                      URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
        let candidates = places.flatMap { [$0, $0.deletingLastPathComponent()] }.map { $0.appendingPathComponent("mbc-train").path }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw XCTSkip("no built mbc-train beside the test bundle (looked at \(candidates)); `swift build` it first")
        }
        return found
    }

    func mpirun() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/mpirun" }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw XCTSkip("mpirun is not on PATH; install openmpi-bin to run the two-rank test")
        }
        return found
    }

    /// Runs `executable` with `arguments`, killing it after `timeout` seconds; returns exit code and stdout + stderr.
    func run(_ executable: String, _ arguments: [String], timeout: Double = 60) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let watchdog = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        watchdog.cancel()
        return (process.terminationStatus, output)
    }

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
