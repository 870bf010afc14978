import Foundation
@testable import MBTrain
import MBTestSupport
import XCTest

/// The evaluation log: records dropped past a step (what a resume does), CSV kept in step.
final class EvalLogTests: XCTestCase {
    func testEvalLogDropsTheRecordsAfterAStep() throws {
        let dir = try temporaryDirectory(for: self)
        let log = EvalLog(runDirectory: dir)
        for step in [4, 8, 12] {
            try log.append(EvalRecord(epoch: step / 4, step: step, lr: 0.1, trainLoss: 1, trainTop1: 0.5, testLoss: 1,
                                      testTop1: 0.5, testTop5: 0.9, imagesPerSecond: 10, elapsedSeconds: 1))
        }
        try log.removeRecords(after: 8)
        XCTAssertEqual(log.records().map(\.step), [4, 8])
        let csv = try String(contentsOfFile: log.csvPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertEqual(csv.first.map(String.init), EvalRecord.columns.joined(separator: ","))
        try log.removeRecords(after: 0)
        XCTAssertEqual(log.records().count, 0)
        XCTAssertEqual(try String(contentsOfFile: log.csvPath, encoding: .utf8).split(separator: "\n").count, 1)
    }
}
