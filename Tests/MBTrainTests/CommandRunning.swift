import Foundation
import XCTest

/// Runs the built `mbc-train`, alone or under `mpirun`, from tests.
protocol CommandRunning {}

extension CommandRunning {
    /// `mbc-train` sits beside the test bundle in `.build/<configuration>/`.
    func binary() throws -> String {
        let anchor = Bundle(for: EnvCommandTests.self).bundleURL
        let places = [Bundle.main.bundleURL, anchor,
                      URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
        let candidates = places.flatMap { [$0, $0.deletingLastPathComponent()] }.map { $0.appendingPathComponent("mbc-train").path }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            // A failure, not a skip: `swift test` builds the executables, so a missing one is a defect.
            throw CommandError("no built mbc-train beside the test bundle (looked at \(candidates))")
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

    /// Runs `executable` with `arguments` and `environment` changes (nil unsets), killing it after
    /// `timeout` seconds; returns exit code and stdout + stderr.
    func run(_ executable: String, _ arguments: [String], timeout: Double = 60, directory: String? = nil,
             environment: [String: String?] = [:]) throws -> (status: Int32, output: String) {
        let (process, pipe) = makeProcess(executable, arguments, directory: directory, environment: environment)
        try process.run()
        let watchdog = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        watchdog.cancel()
        return (process.terminationStatus, output)
    }

    /// A process ready to run, stdout and stderr into one pipe, allowed to run `mpirun` as root.
    func makeProcess(_ executable: String, _ arguments: [String], directory: String? = nil,
                     environment changes: [String: String?] = [:]) -> (Process, Pipe) {
        let process = Process()
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (name, value) in changes { environment[name] = value }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        return (process, pipe)
    }

    /// The repository's root (configs/, data/).
    var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }
}

struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
