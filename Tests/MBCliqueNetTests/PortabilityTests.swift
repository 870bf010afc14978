import MBCore
import MBTestSupport
import XCTest

/// The lookup-table kernels are built for AVX2 and used only after a CPU check. This runs the
/// test binary itself on an emulated CPU without AVX (qemu-user, `-cpu Nehalem`, where an AVX2
/// instruction is an illegal-instruction crash): the binary products must take the OpenBLAS path
/// and the whole network must still match the PyTorch fixtures.
final class PortabilityTests: XCTestCase, CommandRunning {
    func testACPUWithoutAVX2RunsTheOpenBLASPathAndStillMatchesPyTorch() throws {
        let qemu = "/usr/bin/qemu-x86_64"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: qemu), "qemu-user is not installed (.ci/run installs it)")
        let products = try rerunTestBinary(filter: "MBCoreTests.WeightMatrixTests,MBSignGEMMTests.SignMatrixTests", wrapper: [qemu, "-cpu", "Nehalem"])
        XCTAssertEqual(products.status, 0, products.output)
        XCTAssertTrue(products.output.contains("testBinaryProductsEqualNaiveSums' skipped"), products.output)
        XCTAssertTrue(products.output.contains("testOpenBLASProductsEqualNaiveSums' passed"), products.output)
        XCTAssertTrue(products.output.contains("testProductsEqualTheNaiveSumsExactly' skipped"), products.output)

        let fixtures = try rerunTestBinary(filter: "MBCliqueNetTests.ReferenceFixtureTests", wrapper: [qemu, "-cpu", "Nehalem"])
        XCTAssertEqual(fixtures.status, 0, fixtures.output)
        XCTAssertTrue(fixtures.output.contains("Executed 3 tests, with 0 failures"), fixtures.output)
    }
}
