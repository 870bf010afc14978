import CZlib
import Foundation
import MBBase

/// Reads a whole regular file, or throws a DataError naming it and saying what was expected there.
/// A file larger than this process may hold (`MemoryLimit`) is refused before it is read.
func readFile(_ path: String, expecting what: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError("\(path): file not found; expected \(what). Check data.root (--set data.root=DIR).")
    }
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    guard !isDirectory.boolValue, attributes?[.type] as? FileAttributeType == .typeRegular,
          let size = (attributes?[.size] as? NSNumber)?.doubleValue else {
        throw DataError("\(path): not a regular file; expected \(what).")
    }
    guard size <= MemoryLimit.bytesPerRank else {
        throw DataError("\(path): \(MemoryLimit.gigabytes(size)), more than the \(MemoryLimit.explained) this process may hold; expected \(what).")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw DataError("\(path): cannot be read (permissions?); expected \(what).")
    }
    return [UInt8](data)
}

/// The first of `candidates` that exists, or a DataError listing them all.
func firstExisting(_ candidates: [String], expecting what: String) throws -> String {
    if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
    throw DataError("\(candidates.joined(separator: " or ")): file not found; expected \(what). Check data.root (--set data.root=DIR).")
}

/// Inflates a zlib or gzip stream (detected from its header) into at most `limit` bytes.
/// With `prefix` it stops once it has produced `limit` bytes and returns them (a header to read
/// before deciding how much to inflate); otherwise a stream that holds more than `limit` bytes,
/// ends early or is corrupt throws, naming `file`. Memory grows with the output, never ahead of it.
func inflate(_ input: UnsafeRawBufferPointer, limit: Int, prefix: Bool = false, file: String) throws -> [UInt8] {
    var stream = z_stream()
    guard mbc_inflate_init(&stream, 15 + 32) == Z_OK else {
        throw DataError("\(file): zlib could not start inflating (out of memory?).")
    }
    defer { inflateEnd(&stream) }
    // One byte beyond the limit shows that the stream holds more.
    let cap = prefix ? limit : limit + 1
    var output = [UInt8](repeating: 0, count: min(cap, max(4 * input.count, 1024)))
    var produced = 0
    var consumed = 0
    var status: Int32 = Z_OK
    let tooLong = DataError("\(file): inflates to more than the \(limit) bytes its contents can hold; the file is damaged or not the one named. Download it again.")
    while status != Z_STREAM_END {
        if produced == cap {
            if prefix { return output }
            throw tooLong
        }
        if produced == output.count { output += [UInt8](repeating: 0, count: min(output.count, cap - output.count)) }
        let inputLeft = min(input.count - consumed, Int(UInt32.max))
        status = output.withUnsafeMutableBytes { out -> Int32 in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0.advanced(by: consumed) }?
                .assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(inputLeft)
            let outputLeft = min(out.count - produced, Int(UInt32.max))
            stream.next_out = out.baseAddress!.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(outputLeft)
            let s = CZlib.inflate(&stream, Z_NO_FLUSH)
            consumed += inputLeft - Int(stream.avail_in)
            produced += outputLeft - Int(stream.avail_out)
            return s
        }
        switch status {
        case Z_OK, Z_STREAM_END: continue
        case Z_BUF_ERROR where consumed == input.count:
            throw DataError("\(file): compressed data ends early (truncated after \(input.count) bytes); download the file again.")
        case Z_BUF_ERROR: continue
        default:
            let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
            throw DataError("\(file): compressed data is corrupt (\(reason)); download the file again.")
        }
    }
    if produced > limit { throw tooLong }
    output.removeSubrange(produced...)
    return output
}

/// Big-endian u32 at `offset`.
func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
}

/// The product of `factors`, or nil when it overflows `Int` or one is negative.
func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for f in factors {
        guard f >= 0 else { return nil }
        let (p, overflow) = product.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        product = p
    }
    return product
}
