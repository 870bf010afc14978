import MBCore
import XCTest

/// The lookup-table kernels are built for AVX2 and used only after a CPU check. This runs the
/// test binary itself on an emulated CPU without AVX (qemu-user, `-cpu Nehalem`, where an AVX2
/// instruction is an illegal-instruction crash): the binary products must take the OpenBLAS path
/// and the whole network must still match the PyTorch fixtures.
final class PortabilityTests: XCTestCase {
    func testACPUWithoutAVX2RunsTheOpenBLASPathAndStillMatchesPyTorch() throws {
        let qemu = "/usr/bin/qemu-x86_64"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: qemu), "qemu-user is not installed (.ci/run installs it)")
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")

        let products = try run(qemu, ["-cpu", "Nehalem", binary, "MBCoreTests.WeightMatrixTests"])
        XCTAssertEqual(products.status, 0, products.output)
        XCTAssertTrue(products.output.contains("testBinaryProductsEqualNaiveSums' skipped"), products.output)
        XCTAssertTrue(products.output.contains("testOpenBLASProductsEqualNaiveSums' passed"), products.output)

        let fixtures = try run(qemu, ["-cpu", "Nehalem", binary, "MBCliqueNetTests.ReferenceFixtureTests"])
        XCTAssertEqual(fixtures.status, 0, fixtures.output)
        XCTAssertTrue(fixtures.output.contains("Executed 3 tests, with 0 failures"), fixtures.output)
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        // OpenBLAS must pick its kernels for the emulated CPU: a core forced for the host (such as
        // OPENBLAS_CORETYPE=Haswell) would run AVX2 code that the emulated CPU lacks.
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "OPENBLAS_CORETYPE" }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
