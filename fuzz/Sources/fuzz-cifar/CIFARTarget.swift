@testable import MBData

// The CIFAR binary reader (CIFAR.parseRecords) as CIFAR-10 (1 label byte) and as CIFAR-100
// (2 label bytes, coarse and fine). What it accepts must hold whole records and labels in range.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for (labelBytes, labelOffset, classes) in [(1, 0, 10), (2, 0, 20), (2, 1, 100)] {
        guard let records = try? CIFAR.parseRecords(bytes, file: "fuzz.bin", labelBytes: labelBytes, labelOffset: labelOffset,
                                                    classes: classes, what: "fuzz input") else { continue }
        precondition(records.images.count == records.labels.count * CIFAR.pixels)
        precondition(records.labels.allSatisfy { 0 <= $0 && $0 < classes })
    }
    return 0
}
