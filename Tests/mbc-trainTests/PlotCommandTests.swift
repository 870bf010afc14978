import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import MBTrain
import MBTestSupport
import XCTest

/// `mbc-train plot`: the SVG read back with XMLParser, and bad run directories refused.
final class PlotCommandTests: XCTestCase, CommandRunning {
    /// The elements of an SVG with their attributes, the classes and ids of the groups around
    /// them, and the text of `<text>` elements.
    final class SVGElements: NSObject, XMLParserDelegate {
        struct Element {
            var name: String
            var attributes: [String: String]
            var groups: [String]
            var text = ""
        }
        var elements: [Element] = []
        private var open: [Int] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let groups = open.map { elements[$0] }.filter { $0.name == "g" }.flatMap { [$0.attributes["class"], $0.attributes["id"]].compactMap { $0 } }
            elements.append(Element(name: name, attributes: attributes, groups: groups))
            open.append(elements.count - 1)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { open.removeLast() }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if let last = open.last { elements[last].text += string }
        }

        func inside(_ group: String, _ name: String) -> [Element] { elements.filter { $0.name == name && $0.groups.contains(group) } }
    }

    /// Writes a run directory: config.yaml with `schedule` and eval.jsonl with one record per epoch.
    func makeRun(_ dir: String, schedule: String, errors: [Double], losses: [Double], stepsPerEpoch: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        model: {in_channels: 1, image_size: 28, classes: 10, widths: [8, 8, 16], layers: 2, k: 2, stem_channels: 8}
        data: {dataset: mnist, root: data}
        schedule: \(schedule)
        """.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        let log = EvalLog(runDirectory: dir)
        for (i, (error, loss)) in zip(errors, losses).enumerated() {
            try log.append(EvalRecord(epoch: i + 1, step: (i + 1) * stepsPerEpoch, lr: 0.01, trainLoss: loss, trainTop1: 0.9, testLoss: 0.1,
                                      testTop1: 1 - error / 100, testTop5: 1, imagesPerSecond: 500, elapsedSeconds: Double(i)))
        }
    }

    /// Two runs with different SGDR boundaries: in each panel one path per run whose points, read
    /// back through the tick labels, are the logged values; the ticks are nice and just cover the
    /// data; the restarts of each run's schedule are marked.
    func testPlotDrawsEachRunInBothPanelsOnAxesFromTheData() throws {
        let dir = try temporaryDirectory(for: self)
        let errorsA = (1...30).map { 9.0 / Double($0) + 0.35 }, lossesA = (1...30).map { 1.3 / Double($0) }
        let errorsB = (1...7).map { 7.5 - Double($0) }, lossesB = (1...7).map { 0.9 - 0.1 * Double($0) }
        try makeRun(dir + "/runs/mcdonnell", schedule: "{t0_epochs: 2, t_mult: 2, epochs: 30}", errors: errorsA, losses: lossesA, stepsPerEpoch: 10)
        try makeRun(dir + "/other/pow2", schedule: "{t0_epochs: 2, t_mult: 2, boundaries: power-of-two, epochs: 32}",
                    errors: errorsB, losses: lossesB, stepsPerEpoch: 10)
        // A resumed run may log one evaluation twice: the later line counts.
        let log = EvalLog(runDirectory: dir + "/other/pow2")
        var again = log.records().last!
        again.testTop1 = 0.98
        try log.append(again)
        let errorsB2 = errorsB.dropLast() + [2.0]

        let r = try run(try binary(), ["plot", dir + "/runs/mcdonnell", dir + "/other/pow2", "--output", dir + "/curves.svg"])
        XCTAssertEqual(r.status, 0, r.output)
        let svg = SVGElements()
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: dir + "/curves.svg")))
        parser.delegate = svg
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(svg.elements.first?.name, "svg")
        XCTAssertEqual(svg.inside("legend", "text").map(\.text).prefix(2), ["mcdonnell", "pow2"])

        for (panel, a, b) in [("test-error", errorsA, Array(errorsB2)), ("train-loss", lossesA, lossesB)] {
            // Tick labels and their positions give the axes' mapping back to data.
            func axis(_ group: String, _ coordinate: String) throws -> (values: [Double], map: (Double) -> Double) {
                let ticks = svg.inside(panel, "text").filter { $0.groups.contains(group) }
                let values = try ticks.map { try XCTUnwrap(Double($0.text), $0.text) }
                let positions = ticks.map { Double($0.attributes[coordinate]!)! - (coordinate == "y" ? 4 : 0) }
                XCTAssertGreaterThanOrEqual(values.count, 3, panel)
                let scale = (values.last! - values.first!) / (positions.last! - positions.first!)
                return (values, { values.first! + ($0 - positions.first!) * scale })
            }
            let x = try axis("x-ticks", "x"), y = try axis("y-ticks", "y")
            XCTAssertEqual(x.values.first, 0)
            XCTAssertEqual(x.values.last, 30, "epochs 1-30: ticks 0, 5, ..., 30")
            let all = a + b, step = y.values[1] - y.values[0]
            XCTAssertTrue([1, 2, 5].contains { abs(step / pow(10, floor(log10(step))) - Double($0)) < 1e-9 }, "\(step)")
            XCTAssertLessThanOrEqual(y.values.first!, all.min()!)
            XCTAssertGreaterThan(y.values.first! + step, all.min()!, "the axis starts at the tick below the data")
            XCTAssertGreaterThanOrEqual(y.values.last!, all.max()!)
            XCTAssertLessThan(y.values.last! - step, all.max()!, "the axis ends at the tick above the data")

            let paths = svg.inside(panel, "path").filter { $0.attributes["class"] == "run" }
            XCTAssertEqual(paths.map { $0.attributes["data-run"] }, ["mcdonnell", "pow2"], panel)
            for (path, expected) in zip(paths, [a, b]) {
                let points = path.attributes["d"]!.split(separator: " ").map { $0.dropFirst().split(separator: ",").map { Double($0)! } }
                XCTAssertEqual(points.count, expected.count, panel)
                for (i, p) in points.enumerated() {
                    XCTAssertEqual(x.map(p[0]), Double(i + 1), accuracy: 0.01)
                    XCTAssertEqual(y.map(p[1]), expected[i], accuracy: 1e-3 * (y.values.last! - y.values.first!))
                }
            }
            // Restarts: McDonnell at 2, 6, 14 (30 ends the budget); power-of-two at 2, 4 (up to epoch 7).
            let restarts = svg.inside(panel, "line").filter { $0.attributes["class"] == "restart" }
            XCTAssertEqual(restarts.map { x.map(Double($0.attributes["x1"]!)!).rounded() }, [2, 6, 14, 2, 4], panel)
        }
    }

    func testBadRunDirectoriesGetOneLineAndExitCode2() throws {
        let dir = try temporaryDirectory(for: self)
        try makeRun(dir + "/garbage", schedule: "{epochs: 2}", errors: [5], losses: [1], stepsPerEpoch: 10)
        try "{\"epoch\": 1, \"step\": 3}\nnot json\n".write(toFile: dir + "/garbage/eval.jsonl", atomically: true, encoding: .utf8)
        try makeRun(dir + "/noconfig", schedule: "{epochs: 2}", errors: [5], losses: [1], stepsPerEpoch: 10)
        try FileManager.default.removeItem(atPath: dir + "/noconfig/config.yaml")
        for (name, words) in [("empty", ["has no readable eval.jsonl"]), ("garbage", ["line 1 is not an evaluation record"]),
                             ("noconfig", ["has no config.yaml"])] {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            let r = try run(try binary(), ["plot", dir + "/" + name, "--output", dir + "/out.svg"])
            XCTAssertEqual(r.status, 2, r.output)
            XCTAssertEqual(r.output.split(separator: "\n").count, 1, r.output)
            for w in words { XCTAssertTrue(r.output.contains(w), r.output) }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.svg"))
    }
}
