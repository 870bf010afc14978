import Foundation
import MBTrain

// The config reader (RunConfig.parse(bytes:)): UTF-8, YAML through Yams with its size, nesting and
// alias limits, then every section's keys and bounds, and the memory estimate of what it describes.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? RunConfig.parse(bytes: Data(bytes), source: "fuzz.yaml")
    return 0
}
