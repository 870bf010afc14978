import Foundation
import XCTest

extension CommandRunning {
    /// TensorBoard's EventAccumulator over `directory`: every scalar tag's (step, value) pairs, in
    /// reading order. Skips when PyPI's tensorboard is not installed.
    public func tensorBoardScalars(_ directory: String) throws -> [String: [[Double]]] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        guard let python = path.split(separator: ":").map({ "\($0)/python3" }).first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw XCTSkip("python3 is not on PATH; TensorBoard's reader cannot check the event files")
        }
        let script = """
        import json, sys
        try:
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        except ImportError:
            print("NO-TENSORBOARD"); sys.exit(0)
        acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
        acc.Reload()
        print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
        """
        let r = try run(python, ["-c", script, directory])
        XCTAssertEqual(r.status, 0, r.output)
        let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
        if last == "NO-TENSORBOARD" {
            throw XCTSkip("PyPI's tensorboard is not installed (pip install tensorboard; .ci/run does); the event files are checked by mbc's reader only")
        }
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: [[Double]]], r.output)
    }
}
