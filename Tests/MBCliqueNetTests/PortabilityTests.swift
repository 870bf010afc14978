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

    /// bf16 weight gradients on the same emulated CPU (no AVX-512, no AVX512-BF16): the bf16
    /// kernel's tests are skipped rather than run (the same tests' fp32 products run and pass), and
    /// optim.grad_precision: bf16 is refused with the sentence that names the option.
    func testACPUWithoutAVX512BF16NeverRunsTheBF16Kernel() throws {
        let qemu = "/usr/bin/qemu-x86_64"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: qemu), "qemu-user is not installed (.ci/run installs it)")
        let run = try rerunTestBinary(filter: "MBCoreTests.WeightGradientGEMMTests,MBCliqueNetTests.GradientPrecisionTests,"
                                      + "MBTrainTests.TrainConfigTests/testGradPrecisionBF16NeedsAVX512BF16",
                                      wrapper: [qemu, "-cpu", "Nehalem"])
        XCTAssertEqual(run.status, 0, run.output)
        for test in ["testRoundingMatchesTheSpecifiedConversion", "testBF16ChangesOnlyTheConvWeightGradients"] {
            XCTAssertTrue(run.output.contains("\(test)' skipped"), run.output)
        }
        for test in ["testProductEqualsRoundedFloat64Product", "testAnotherTargetFinishesThePendingProduct",
                     "testGradPrecisionBF16NeedsAVX512BF16"] {
            XCTAssertTrue(run.output.contains("\(test)' passed"), run.output)
        }
    }
}
