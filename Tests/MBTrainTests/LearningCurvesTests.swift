@testable import MBTrain
import XCTest

/// The plot's axes: nice ticks that cover the data.
final class LearningCurvesTests: XCTestCase {
    func testTicksAreOneTwoOrFiveTimesAPowerOfTenAndCoverTheRange() {
        XCTAssertEqual(AxisTicks(covering: 0, 30).values, [0, 5, 10, 15, 20, 25, 30])
        XCTAssertEqual(AxisTicks(covering: 0, 254).values, [0, 50, 100, 150, 200, 250, 300])
        let loss = AxisTicks(covering: 0.037, 0.81)
        XCTAssertEqual(loss.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(loss.values.map { loss.label($0) }, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let error = AxisTicks(covering: 0.41, 1.37)
        XCTAssertEqual(error.values.map { error.label($0) }, ["0.4", "0.6", "0.8", "1.0", "1.2", "1.4"])
        XCTAssertEqual(AxisTicks(covering: 0, 2, minimumStep: 1).values, [0, 1, 2], "whole epochs")
        let flat = AxisTicks(covering: 2, 2)
        XCTAssertLessThan(flat.lower, 2)
        XCTAssertGreaterThan(flat.upper, 2)
    }
}
