@testable import MBData

// The MAT-file reader (MATFile(bytes:)) and SVHN's reading of its `X` and `y`. A dataset it
// accepts must hold 32x32x3 images and labels 0-9.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mat = try? MATFile(bytes: bytes, file: "fuzz_32x32.mat") else { return 0 }
    for variable in mat.variables.values { _ = variable.integers() }
    guard let dataset = try? SVHN.images(of: mat, path: "fuzz_32x32.mat") else { return 0 }
    precondition(dataset.images.count == dataset.labels.count * 3072)
    precondition(dataset.labels.allSatisfy { 0 <= $0 && $0 < 10 })
    return 0
}
