import Foundation
import MBBase
#if canImport(Glibc)
import Glibc
#endif

/// Element types of the safetensors format (docs/FORMATS.md). Sub-byte types are not supported.
public enum SafeTensorsDType: String, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3", f8e8m0 = "F8_E8M0"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case i64 = "I64", u64 = "U64", f64 = "F64", c64 = "C64"

    public var elementSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .i64, .u64, .f64, .c64: return 8
        }
    }
}

/// One tensor: its element type, shape (row-major) and raw little-endian bytes.
public struct SafeTensor: Equatable {
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor dimensions are not negative")
        precondition(bytes.count == shape.reduce(1, *) * dtype.elementSize, "\(bytes.count) bytes do not fit shape \(shape) of \(dtype.rawValue)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(shape: [Int], floats: [Float]) { self.init(dtype: .f32, shape: shape, elements: floats) }
    public init(shape: [Int], int32s: [Int32]) { self.init(dtype: .i32, shape: shape, elements: int32s) }
    public init(shape: [Int], int64s: [Int64]) { self.init(dtype: .i64, shape: shape, elements: int64s) }
    public init(shape: [Int], uint8s: [UInt8]) { self.init(dtype: .u8, shape: shape, bytes: uint8s) }

    // Raw copies are the little-endian encoding on the little-endian hosts Swift targets here.
    private init<T>(dtype: SafeTensorsDType, shape: [Int], elements: [T]) {
        self.init(dtype: dtype, shape: shape, bytes: elements.withUnsafeBytes { Array($0) })
    }

    /// The elements when the tensor holds `dtype`, else nil.
    public var floats: [Float]? { elements(ifTypeIs: .f32) }
    public var int32s: [Int32]? { elements(ifTypeIs: .i32) }
    public var int64s: [Int64]? { elements(ifTypeIs: .i64) }
    public var uint8s: [UInt8]? { dtype == .u8 ? bytes : nil }

    private func elements<T>(ifTypeIs wanted: SafeTensorsDType) -> [T]? {
        guard dtype == wanted else { return nil }
        let count = bytes.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
            initialized = count
        }
    }
}

/// A file that cannot be read or written as safetensors; the message names the file, says what
/// is wrong and what to do.
public struct SafeTensorsError: MessageError {
    public let path: String
    public let problem: String
    public var message: String { "`\(path)`: \(problem)" }
}

/// Named tensors plus a string-to-string `__metadata__` map, stored as safetensors
/// (huggingface/safetensors): u64 header length, JSON header padded with spaces to a multiple of
/// 8, then the tensors' bytes back to back.
public struct SafeTensors: Equatable {
    public var tensors: [String: SafeTensor]
    public var metadata: [String: String]

    public static let maxHeaderBytes = 100_000_000
    static let metadataKey = "__metadata__"

    public init(tensors: [String: SafeTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Writes atomically: to a temporary file in the same directory, fsync, then rename over
    /// `path`, so a reader sees the old file or the whole new one, never half of one.
    public func write(to path: String) throws {
        let fail = { (problem: String) in SafeTensorsError(path: path, problem: problem) }
        guard tensors[Self.metadataKey] == nil else {
            throw fail("`\(Self.metadataKey)` is reserved for metadata; rename that tensor.")
        }
        // Larger elements first, then by name (as the reference writer does): every tensor starts
        // at a multiple of its element size, so readers may map it in place.
        let names = tensors.keys.sorted {
            let (a, b) = (tensors[$0]!.dtype.elementSize, tensors[$1]!.dtype.elementSize)
            return a != b ? a > b : $0 < $1
        }
        var header: [String: Any] = [:]
        var offset = 0
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]]
            offset += t.bytes.count
        }
        if !metadata.isEmpty { header[Self.metadataKey] = metadata }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        var file = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
        file.reserveCapacity(file.count + offset)
        for name in names { file += tensors[name]!.bytes }
        try writeAtomically(file, to: path)
    }

    /// Reads and validates a whole file: header length, JSON, dtypes, shapes against byte counts,
    /// and tensors covering the byte buffer exactly (no holes, no overlaps, nothing after).
    public init(contentsOf path: String) throws {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if attributes != nil, attributes?[.type] as? FileAttributeType != .typeRegular {
            throw SafeTensorsError(path: path, problem: "not a regular file; give a .safetensors file.")
        }
        if let size = (attributes?[.size] as? NSNumber)?.doubleValue, size > MemoryLimit.bytesPerRank {
            throw SafeTensorsError(path: path, problem: "\(MemoryLimit.gigabytes(size)), more than the \(MemoryLimit.explained) this process may hold.")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafeTensorsError(path: path, problem: "cannot read the file; check that it exists and is readable.")
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    /// Reads and validates the bytes of a safetensors file; `path` names it in errors.
    public init(bytes file: [UInt8], path: String) throws {
        let fail = { (problem: String) in
            SafeTensorsError(path: path, problem: "not a valid safetensors file: \(problem). Write it again, or use another file.")
        }
        guard file.count >= 8 else { throw fail("it is \(file.count) bytes, shorter than the 8-byte header length (truncated?)") }
        let headerLength = file[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw fail("the header length field says \(headerLength) bytes, above the \(Self.maxHeaderBytes)-byte limit")
        }
        guard Int(headerLength) <= file.count - 8 else {
            throw fail("the header should be \(headerLength) bytes but the file has only \(file.count - 8) after the length field (truncated?)")
        }
        let header = file[8..<8 + Int(headerLength)]
        guard header.first == UInt8(ascii: "{") else { throw fail("the header does not start with `{`") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(header)), let entries = object as? [String: Any] else {
            throw fail("the header is not a valid JSON object")
        }
        let buffer = file[(8 + Int(headerLength))...]
        var metadata: [String: String] = [:]
        var spans: [(name: String, dtype: SafeTensorsDType, shape: [Int], range: Range<Int>)] = []
        for (name, value) in entries {
            if name == Self.metadataKey {
                guard let map = value as? [String: String] else { throw fail("`\(name)` is not a map of strings to strings") }
                metadata = map
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("tensor `\(name)` is not a JSON object") }
            if let extra = info.keys.first(where: { !["dtype", "shape", "data_offsets"].contains($0) }) {
                throw fail("tensor `\(name)` has an unknown field `\(extra)`")
            }
            guard let typeName = info["dtype"] as? String else { throw fail("tensor `\(name)` has no dtype") }
            guard let dtype = SafeTensorsDType(rawValue: typeName) else {
                throw fail("tensor `\(name)` has dtype `\(typeName)`, which mbc does not read (known: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shape = info["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor `\(name)` has no shape as a list of non-negative whole numbers")
            }
            guard let offsets = info["data_offsets"] as? [Int], offsets.count == 2, 0 <= offsets[0], offsets[0] <= offsets[1] else {
                throw fail("tensor `\(name)` has no data_offsets [begin, end] with 0 <= begin <= end")
            }
            var bytes = dtype.elementSize
            for d in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor `\(name)` has an impossibly large shape \(shape)") }
                bytes = product
            }
            guard offsets[1] - offsets[0] == bytes else {
                throw fail("tensor `\(name)` of shape \(shape) \(typeName) needs \(bytes) bytes but its data_offsets \(offsets) span \(offsets[1] - offsets[0])")
            }
            spans.append((name, dtype, shape, offsets[0]..<offsets[1]))
        }
        var covered = 0
        for span in spans.sorted(by: { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }) {
            guard span.range.lowerBound == covered else {
                let what = span.range.lowerBound > covered ? "a hole" : "an overlap"
                throw fail("tensor `\(span.name)` starts at byte \(span.range.lowerBound) of the buffer, leaving \(what) after byte \(covered)")
            }
            covered = span.range.upperBound
        }
        guard covered == buffer.count else {
            throw fail("the tensors cover \(covered) bytes but the data buffer has \(buffer.count) (truncated or padded?)")
        }
        let start = buffer.startIndex
        var tensors: [String: SafeTensor] = [:]
        for span in spans {
            let bytes = buffer[(start + span.range.lowerBound)..<(start + span.range.upperBound)]
            tensors[span.name] = SafeTensor(dtype: span.dtype, shape: span.shape, bytes: Array(bytes))
        }
        self.init(tensors: tensors, metadata: metadata)
    }
}

extension SafeTensors {
    /// The checksum mbc's own files (checkpoints, exports) keep in the metadata key `checksum`:
    /// FNV-1a (64-bit) over every tensor's name and bytes in name order, then every metadata key
    /// and value in key order except `checksum` itself; 16 hex digits.
    public var checksum: String {
        var hash = FNV1a()
        for name in tensors.keys.sorted() {
            hash.add(bytes: name.utf8)
            hash.add(bytes: tensors[name]!.bytes)
        }
        for key in metadata.keys.sorted() where key != "checksum" {
            hash.add(bytes: key.utf8)
            hash.add(bytes: metadata[key]!.utf8)
        }
        return String(format: "%016llx", hash.value)
    }
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs
/// the directory, so `path` is always either the old file or the complete new one.
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    let fail = { (step: String) in
        SafeTensorsError(path: path, problem: "cannot \(step): \(String(cString: strerror(errno))). Check that the directory exists, is writable and has space.")
    }
    let directory = (path as NSString).deletingLastPathComponent
    let temporary = (directory.isEmpty ? "" : directory + "/") + ".\((path as NSString).lastPathComponent).tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw fail("create the temporary file `\(temporary)`") }
    var done = 0
    let written: Bool = bytes.withUnsafeBytes { raw in
        while done < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
    guard written, fsync(fd) == 0 else {
        let error = fail("write the temporary file `\(temporary)`")
        close(fd)
        unlink(temporary)
        throw error
    }
    guard close(fd) == 0 else { unlink(temporary); throw fail("close the temporary file `\(temporary)`") }
    guard rename(temporary, path) == 0 else {
        let error = fail("rename `\(temporary)` to the final name")
        unlink(temporary)
        throw error
    }
    let dir = open(directory.isEmpty ? "." : directory, O_RDONLY)
    guard dir >= 0 else { throw fail("open the directory to make the rename durable") }
    defer { close(dir) }
    guard fsync(dir) == 0 else { throw fail("sync the directory to make the rename durable") }
}
