import MBCore

// The safetensors reader (SafeTensors(bytes:)): header length, JSON header, dtypes, shapes and
// offsets. Every tensor it accepts holds the bytes its dtype and shape need.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let file = try? SafeTensors(bytes: bytes, path: "fuzz.safetensors") else { return 0 }
    for tensor in file.tensors.values {
        precondition(tensor.bytes.count == tensor.shape.reduce(tensor.dtype.elementSize, *))
    }
    return 0
}
