import Foundation
import MBBase
import XCTest

/// The one way tests start a child process: a built executable (`mbc-train`, `mbc-bench`), `mpirun`,
/// a script, Python, or this test binary again. Conform a test case to use it.
public protocol CommandRunning {}

extension CommandRunning {
    /// The built `mbc-train`, beside the test binary in `.build/<configuration>/`.
    public func binary() throws -> String { try builtExecutable("mbc-train") }

    /// An executable product built beside the test binary. A failure, not a skip: `swift test`
    /// builds the executables, so a missing one is a defect.
    public func builtExecutable(_ name: String) throws -> String {
        let testBinary = URL(fileURLWithPath: try testBinaryPath())
        let candidates = [testBinary.deletingLastPathComponent(), testBinary.deletingLastPathComponent().deletingLastPathComponent()]
            .map { $0.appendingPathComponent(name).path }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw ProcessRunningError("no built \(name) beside the test binary (looked at \(candidates))")
        }
        return found
    }

    public func mpirun() throws -> String {
        guard let found = onPath("mpirun") else {
            throw XCTSkip("mpirun is not on PATH; install openmpi-bin to run the multi-rank test")
        }
        return found
    }

    /// The first executable called `name` on PATH.
    public func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first(where: FileManager.default.isExecutableFile(atPath:))
    }

    /// Runs `executable` with `arguments` and `environment` changes (nil unsets), killing it after
    /// `timeout` seconds; returns exit code and stdout + stderr.
    public func run(_ executable: String, _ arguments: [String], timeout: Double = 60, directory: String? = nil,
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
    public func makeProcess(_ executable: String, _ arguments: [String], directory: String? = nil,
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

    /// Runs this test binary again on `filter` (XCTest selectors, comma-separated), optionally
    /// under `wrapper` (e.g. `qemu-x86_64 -cpu Nehalem`), with `environment` changes.
    public func rerunTestBinary(filter: String, wrapper: [String] = [], environment: [String: String?] = [:],
                                timeout: Double = 600) throws -> (status: Int32, output: String) {
        let command = wrapper + [try testBinaryPath(), filter]
        return try run(command[0], Array(command.dropFirst()), timeout: timeout, environment: environment)
    }

    /// The repository's root (configs/, data/, launch/).
    public var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    private func testBinaryPath() throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }
}

public struct ProcessRunningError: MessageError {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// The output of a running process, collected from its pipe's handler thread.
public final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var collected = ""

    public init() {}

    public var text: String {
        lock.lock(); defer { lock.unlock() }
        return collected
    }

    /// Appends `chunk`; true when `marker` appears for the first time.
    public func append(_ chunk: String, watchingFor marker: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let before = collected.contains(marker)
        collected += chunk
        return !before && collected.contains(marker)
    }
}
