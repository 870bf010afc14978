@testable import MBData

// MNIST's IDX reader (MNIST.parseIDX): each input is read as raw and as gzip-compressed, as images
// (magic 0x803, rank 3) and as labels (0x801, rank 1). What it accepts must hold what its header says.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for file in ["fuzz-idx-ubyte", "fuzz-idx-ubyte.gz"] {
        for magic: UInt32 in [0x0803, 0x0801] {
            guard let idx = try? MNIST.parseIDX(bytes, file: file, magic: magic, what: "fuzz input") else { continue }
            precondition(idx.dims.count == Int(magic & 0xFF) && idx.data.count == idx.dims.reduce(1, *))
        }
    }
    return 0
}
