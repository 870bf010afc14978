import Foundation

/// What `mbc-train plot` draws of one run: its evaluations and where its learning rate restarted.
public struct RunCurves {
    public var name: String
    /// One per step, in step order.
    public var records: [EvalRecord]
    /// The epochs at which an SGDR cycle ended and the next began, up to the last evaluation.
    public var restartEpochs: [Int]

    public init(name: String, records: [EvalRecord], restartEpochs: [Int]) {
        self.name = name
        self.records = records
        self.restartEpochs = restartEpochs
    }

    /// Reads `runDirectory`'s eval.jsonl and the schedule of its config.yaml. An evaluation
    /// logged twice for one step (a resume before the checkpoint that followed it) counts once,
    /// the later line winning.
    public init(runDirectory: String, name: String) throws {
        var byStep: [Int: EvalRecord] = [:]
        for r in try EvalLog(runDirectory: runDirectory).readRecords() { byStep[r.step] = r }
        let records = byStep.keys.sorted().map { byStep[$0]! }
        let configPath = runDirectory + "/config.yaml"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ConfigError("`\(runDirectory)` has no config.yaml; give a run directory that mbc-train wrote.")
        }
        let schedule = try RunConfig.load(path: configPath).training.schedule
        let shape = schedule.schedule(lrMax: 1, lrMin: 0, stepsPerEpoch: 1)
        let lastEpoch = records.last!.epoch
        let restarts = (1..<schedule.cycles).map(shape.epochs(cycles:)).filter { $0 <= lastEpoch }
        self.init(name: name, records: records, restartEpochs: restarts)
    }
}

/// Tick values at 1, 2 or 5 times a power of ten that cover a range: the step nearest to the
/// range over `count - 1` (Heckbert's "nice numbers"), the ends rounded out to it.
struct AxisTicks: Equatable {
    var lower: Double
    var upper: Double
    var step: Double

    /// About `count` ticks from at most `low` to at least `high`, at least `minimumStep` apart
    /// (1 for epochs, which are whole).
    init(covering low: Double, _ high: Double, count: Int = 6, minimumStep: Double = 0) {
        var (low, high) = (low, high)
        if high - low < 1e-12 * max(abs(high), 1) {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            (low, high) = (low - pad, high + pad)
        }
        let raw = (high - low) / Double(max(count - 1, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let fraction = raw / magnitude
        step = max(minimumStep, (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude)
        lower = floor(low / step + 1e-9) * step
        upper = ceil(high / step - 1e-9) * step
    }

    var values: [Double] {
        let n = Int(((upper - lower) / step).rounded())
        return (0...n).map { lower + Double($0) * step }
    }

    /// A tick's label with as many decimals as the step needs.
    func label(_ value: Double) -> String {
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", abs(value) < step * 1e-9 ? 0 : value)
    }
}

/// The two panels of the paper's Figure 3 as an SVG document: test error (%) and training loss
/// against epoch, one line per run (with a dot per evaluation when there are few), the runs'
/// SGDR restarts as dashed verticals in the run's colour, a legend of run names. Each panel is a
/// `<g class="panel">` with `<g class="x-ticks">`/`<g class="y-ticks">` labels and one
/// `<path class="run" data-run="NAME">` per run.
public func learningCurvesSVG(_ runs: [RunCurves]) -> String {
    let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]
    let panelWidth = 400.0, panelHeight = 280.0, left = 70.0, top = 40.0, gap = 100.0
    let width = left + 2 * panelWidth + gap + 30
    let maxEpoch = Double(runs.flatMap(\.records).map(\.epoch).max() ?? 1)
    let xTicks = AxisTicks(covering: 0, maxEpoch, minimumStep: 1)

    // The legend under the panels: entries left to right, wrapped at the figure's width.
    var legend: [String] = []
    var lx = left, ly = top + panelHeight + 60
    for (i, run) in runs.enumerated() {
        let entryWidth = 40 + 7.5 * Double(run.name.count)
        if lx + entryWidth > width - 10 && lx > left { (lx, ly) = (left, ly + 20) }
        legend.append("<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly - 4))\" stroke=\"\(colors[i % colors.count])\" stroke-width=\"2\"/>"
                      + "<text x=\"\(f(lx + 30))\" y=\"\(f(ly))\">\(xmlEscaped(run.name))</text>")
        lx += entryWidth
    }
    if runs.contains(where: { !$0.restartEpochs.isEmpty }) {
        ly += 22
        legend.append("<text x=\"\(f(left))\" y=\"\(f(ly))\" class=\"note\">dashed verticals: SGDR warm restarts (learning rate back to its maximum)</text>")
    }
    let height = ly + 18

    func panel(_ id: String, _ title: String, x0: Double, value: (EvalRecord) -> Double) -> String {
        let values = runs.flatMap { $0.records.map(value) }
        let yTicks = AxisTicks(covering: values.min() ?? 0, values.max() ?? 1)
        func px(_ epoch: Double) -> Double { x0 + (epoch - xTicks.lower) / (xTicks.upper - xTicks.lower) * panelWidth }
        func py(_ v: Double) -> Double { top + panelHeight - (v - yTicks.lower) / (yTicks.upper - yTicks.lower) * panelHeight }
        var out = ["<g class=\"panel\" id=\"\(id)\">",
                   "<text class=\"title\" x=\"\(f(x0 + panelWidth / 2))\" y=\"\(f(top - 14))\" text-anchor=\"middle\">\(title)</text>"]
        var grid: [String] = [], xLabels: [String] = [], yLabels: [String] = []
        for t in xTicks.values {
            grid.append("<line x1=\"\(f(px(t)))\" y1=\"\(f(top))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + panelHeight))\"/>")
            xLabels.append("<text x=\"\(f(px(t)))\" y=\"\(f(top + panelHeight + 18))\" text-anchor=\"middle\">\(xTicks.label(t))</text>")
        }
        for t in yTicks.values {
            grid.append("<line x1=\"\(f(x0))\" y1=\"\(f(py(t)))\" x2=\"\(f(x0 + panelWidth))\" y2=\"\(f(py(t)))\"/>")
            yLabels.append("<text x=\"\(f(x0 - 8))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(yTicks.label(t))</text>")
        }
        out.append("<g class=\"grid\" stroke=\"#e4e4e4\">" + grid.joined() + "</g>")
        out.append("<g class=\"x-ticks\">" + xLabels.joined() + "</g>")
        out.append("<g class=\"y-ticks\">" + yLabels.joined() + "</g>")
        for (i, run) in runs.enumerated() {
            let color = colors[i % colors.count]
            for epoch in run.restartEpochs {
                let x = f(px(Double(epoch)))
                out.append("<line class=\"restart\" x1=\"\(x)\" y1=\"\(f(top))\" x2=\"\(x)\" y2=\"\(f(top + panelHeight))\" stroke=\"\(color)\" stroke-dasharray=\"5,4\" stroke-opacity=\"0.6\"/>")
            }
        }
        for (i, run) in runs.enumerated() {
            let color = colors[i % colors.count]
            let points = run.records.map { (px(Double($0.epoch)), py(value($0))) }
            let d = points.enumerated().map { ($0 == 0 ? "M" : "L") + "\(f($1.0)),\(f($1.1))" }.joined(separator: " ")
            out.append("<path class=\"run\" data-run=\"\(xmlEscaped(run.name))\" d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>")
            if points.count <= 64 {
                out.append(points.map { "<circle cx=\"\(f($0.0))\" cy=\"\(f($0.1))\" r=\"3\" fill=\"\(color)\"/>" }.joined())
            }
        }
        out.append("<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(panelWidth))\" height=\"\(f(panelHeight))\" fill=\"none\" stroke=\"#444\"/>")
        out.append("<text x=\"\(f(x0 + panelWidth / 2))\" y=\"\(f(top + panelHeight + 40))\" text-anchor=\"middle\">epoch</text>")
        out.append("</g>")
        return out.joined(separator: "\n")
    }

    return """
    <?xml version="1.0" encoding="UTF-8"?>
    <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))">
    <style>text { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; font-size: 12px; fill: #222 } .title { font-size: 14px; font-weight: bold } .note { fill: #666 }</style>
    <rect width="100%" height="100%" fill="white"/>
    \(panel("test-error", "Test error (%)", x0: left) { 100 * (1 - $0.testTop1) })
    \(panel("train-loss", "Training loss (epoch mean)", x0: left + panelWidth + gap) { $0.trainLoss })
    <g class="legend">\(legend.joined())</g>
    </svg>

    """
}

/// A coordinate with two decimals.
private func f(_ v: Double) -> String { String(format: "%.2f", v) }

private func xmlEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
