import MBCore
@testable import MBTrain
import MBTestSupport
import XCTest

final class StepProfileTests: XCTestCase {
    /// `Trainer.stepProfile` (used by `mbc-bench ddp`) times the five phases of a step and leaves
    /// the run bitwise unchanged.
    func testStepProfileTimesEachPhaseAndChangesNothing() throws {
        let dir = try temporaryDirectory(for: self)
        let plain = try syntheticTrainer(directory: dir + "/plain")
        let profiled = try syntheticTrainer(directory: dir + "/profiled")
        let profile = KernelProfile()
        profiled.stepProfile = profile
        XCTAssertEqual(try plain.train(maxSteps: 2, events: { _ in }), .finished(step: 2))
        XCTAssertEqual(try profiled.train(maxSteps: 2, events: { _ in }), .finished(step: 2))
        XCTAssertEqual(Set(profile.seconds.keys), ["data", "forward", "backward", "allreduce", "update"])
        XCTAssertGreaterThan(profile.seconds["forward"] ?? 0, 0)
        XCTAssertGreaterThan(profile.seconds["backward"] ?? 0, 0)
        XCTAssertTrue(plain.replica == profiled.replica, "the profiled run trained differently")
    }
}
