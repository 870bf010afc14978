@testable import MBData

// What an image folder is read with: each input as an image file (PNG or JPEG, DecodedImage), as
// a Tiny ImageNet JPEG (exactly 64x64), as wnids.txt and as val_annotations.txt.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let image = try? DecodedImage(bytes: bytes, path: "fuzz-image") {
        precondition(image.width > 0 && image.height > 0 && image.pixels.count == image.channels * image.width * image.height)
    }
    var out = [UInt8](repeating: 0, count: 3 * TinyImageNet.side * TinyImageNet.side)
    out.withUnsafeMutableBufferPointer { buffer in
        _ = try? TinyImageNet.decodeJPEG(bytes, file: "fuzz.JPEG", into: buffer.baseAddress!)
    }
    if let wnids = try? TinyImageNet.classList(bytes, file: "wnids.txt") {
        precondition(!wnids.isEmpty && Set(wnids).count == wnids.count && wnids.allSatisfy(TinyImageNet.isPlainName))
    }
    if let rows = try? TinyImageNet.annotations(bytes, file: "val_annotations.txt") {
        precondition(rows.allSatisfy { TinyImageNet.isPlainName($0.name) })
    }
    return 0
}
