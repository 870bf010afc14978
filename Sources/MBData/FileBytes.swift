import CZlib
import Foundation

/// Reads a whole file, or throws a DataError naming it and saying what was expected there.
func readFile(_ path: String, expecting what: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError("\(path): file not found; expected \(what). Check data.root (or --data-root).")
    }
    guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
        throw DataError("\(path): cannot be read as a file; expected \(what).")
    }
    return [UInt8](data)
}

/// The first of `candidates` that exists, or a DataError listing them all.
func firstExisting(_ candidates: [String], expecting what: String) throws -> String {
    if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
    throw DataError("\(candidates.joined(separator: " or ")): file not found; expected \(what). Check data.root (or --data-root).")
}

/// Inflates a zlib or gzip stream (detected from its header). `sizeHint` presizes the output.
/// A stream that ends early or is corrupt throws, naming `file`.
func inflate(_ input: UnsafeRawBufferPointer, sizeHint: Int, file: String) throws -> [UInt8] {
    var stream = z_stream()
    guard mbc_inflate_init(&stream, 15 + 32) == Z_OK else {
        throw DataError("\(file): zlib could not start inflating (out of memory?).")
    }
    defer { inflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: max(sizeHint, 1024))
    var produced = 0
    var consumed = 0
    var status: Int32 = Z_OK
    while status != Z_STREAM_END {
        if produced == output.count { output += [UInt8](repeating: 0, count: output.count) }
        let inputLeft = min(input.count - consumed, Int(UInt32.max))
        status = output.withUnsafeMutableBytes { out -> Int32 in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: consumed)
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
    output.removeSubrange(produced...)
    return output
}

/// Big-endian u32 at `offset`.
func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
}
