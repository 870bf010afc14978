import Foundation

/// Runs this test binary again on `filter` (XCTest selectors, comma-separated), optionally under
/// `wrapper` (e.g. `qemu-x86_64 -cpu Nehalem`), with `environment` changes (nil unsets a
/// variable); returns the exit status and stdout + stderr.
public func rerunTestBinary(filter: String, wrapper: [String] = [], environment: [String: String?] = [:]) throws -> (status: Int32, output: String) {
    let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let command = wrapper + [binary, filter]
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    var variables = ProcessInfo.processInfo.environment
    for (name, value) in environment { variables[name] = value }
    variables["OMPI_ALLOW_RUN_AS_ROOT"] = "1"  // for tests that start mpirun
    variables["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    process.environment = variables
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
