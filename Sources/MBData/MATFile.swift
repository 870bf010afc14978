import MBBase

/// The numeric arrays of a MATLAB level 5 MAT-file, compressed (miCOMPRESSED) or not.
/// Only what SVHN needs: named real arrays, found by name.
struct MATFile {
    struct Variable {
        var arrayClass: UInt8      // mxCLASS: 6 double, 7 single, 8 int8, 9 uint8, ... 13 uint32
        var dims: [Int]
        var dataType: UInt32       // miINT8 1 ... miDOUBLE 9, as stored
        var data: ArraySlice<UInt8>
        var bigEndian: Bool

        static let classNames: [UInt8: String] = [
            1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single",
            8: "int8", 9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32", 14: "int64", 15: "uint64"]
        var className: String { Self.classNames[arrayClass] ?? "class \(arrayClass)" }

        static let elementSizes: [UInt32: Int] = [1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8]

        /// The stored values as integers (for label vectors); nil for a type that is not a number.
        func integers() -> [Int]? {
            guard let size = Self.elementSizes[dataType] else { return nil }
            let n = data.count / size
            let base = data.startIndex
            func word(_ i: Int) -> UInt64 {
                var v: UInt64 = 0
                for k in 0..<size {
                    let b = UInt64(data[base + i * size + (bigEndian ? k : size - 1 - k)])
                    v = v << 8 | b
                }
                return v
            }
            return (0..<n).map { i in
                let w = word(i)
                switch dataType {
                case 1: return Int(Int8(truncatingIfNeeded: w))
                case 3: return Int(Int16(truncatingIfNeeded: w))
                case 5: return Int(Int32(truncatingIfNeeded: w))
                case 7: return Int(exactly: Float(bitPattern: UInt32(w)).rounded()) ?? -1
                case 9: return Int(exactly: Double(bitPattern: w).rounded()) ?? -1
                default: return Int(w)
                }
            }
        }
    }

    let file: String
    var variables: [String: Variable] = [:]

    init(path: String) throws {
        try self.init(bytes: try readFile(path, expecting: "a MATLAB level 5 MAT-file"), file: path)
    }

    /// Parses the bytes of a MAT-file; `file` names it in errors.
    init(bytes: [UInt8], file path: String) throws {
        file = path
        guard bytes.count >= 128, bytes[0..<6] == ArraySlice("MATLAB".utf8) else {
            throw DataError("\(path): not a MATLAB MAT-file (no `MATLAB` header); expected a level 5 MAT-file such as SVHN's *_32x32.mat. Download it again.")
        }
        let bigEndian: Bool
        switch (bytes[126], bytes[127]) {
        case (UInt8(ascii: "I"), UInt8(ascii: "M")): bigEndian = false
        case (UInt8(ascii: "M"), UInt8(ascii: "I")): bigEndian = true
        default:
            throw DataError("\(path): no endian indicator at bytes 126-127; expected a MATLAB level 5 MAT-file. Download the file again.")
        }
        let version = bigEndian ? UInt16(bytes[124]) << 8 | UInt16(bytes[125]) : UInt16(bytes[125]) << 8 | UInt16(bytes[124])
        guard version == 0x0100 else {
            throw DataError("\(path): MAT-file version 0x\(String(version, radix: 16)) (0x200 is MATLAB 7.3, HDF5); expected a level 5 MAT-file (version 0x100), as SVHN ships. Save it with `save -v7` or scipy.io.savemat.")
        }
        let reader = Reader(bytes: bytes[...], bigEndian: bigEndian, file: path)
        var offset = 128
        while offset < bytes.count {
            let (type, size, dataStart, next) = try reader.tag(at: offset)
            if type == 15 {
                let inflated = try bytes.withUnsafeBytes { raw -> [UInt8] in
                    let compressed = UnsafeRawBufferPointer(rebasing: raw[dataStart..<dataStart + size])
                    // The inflated element's own tag says how long it is; nothing beyond that is inflated.
                    let head = try inflate(compressed, limit: 8, prefix: true, file: path)
                    let inner = Reader(bytes: head[...], bigEndian: bigEndian, file: path)
                    guard head.count == 8, inner.u32(at: 0) >> 16 == 0 else { return head }
                    let length = 8 + Int(inner.u32(at: 4))
                    guard Double(length) <= MemoryLimit.bytesPerRank else {
                        throw DataError("\(path): a compressed element claims \(length) bytes, more than the \(MemoryLimit.explained) this process may hold; the file is damaged. Download it again.")
                    }
                    return try inflate(compressed, limit: (length + 7) / 8 * 8, file: path)
                }
                let inner = Reader(bytes: inflated[...], bigEndian: bigEndian, file: path)
                let (innerType, innerSize, innerStart, _) = try inner.tag(at: 0)
                if innerType == 14 { try addMatrix(inner, from: innerStart, size: innerSize) }
            } else if type == 14 {
                try addMatrix(reader, from: dataStart, size: size)
            }
            offset = next
        }
    }

    private mutating func addMatrix(_ reader: Reader, from start: Int, size: Int) throws {
        let end = start + size
        let base = reader.bytes.startIndex
        var offset = start
        func next() throws -> (type: UInt32, data: ArraySlice<UInt8>) {
            guard offset < end else {
                throw DataError("\(file): a matrix element ends before its data; the file is damaged. Download it again.")
            }
            let (type, count, dataStart, following) = try reader.tag(at: offset)
            offset = following
            return (type, reader.bytes[base + dataStart..<base + dataStart + count])
        }
        let flags = try next()
        guard flags.data.count >= 4 else { throw DataError("\(file): a matrix has no array flags; the file is damaged.") }
        let arrayClass = reader.bigEndian ? flags.data[flags.data.startIndex + 3] : flags.data[flags.data.startIndex]
        let dimsElement = try next()
        let dimsReader = Reader(bytes: dimsElement.data, bigEndian: reader.bigEndian, file: file)
        let dims = (0..<dimsElement.data.count / 4).map { Int(dimsReader.u32(at: 4 * $0)) }
        let name = String(decoding: try next().data, as: UTF8.self)
        guard arrayClass >= 6, arrayClass <= 15 else {
            variables[name] = Variable(arrayClass: arrayClass, dims: dims, dataType: 0, data: [], bigEndian: reader.bigEndian)
            return
        }
        let real = try next()
        variables[name] = Variable(arrayClass: arrayClass, dims: dims, dataType: real.type, data: real.data,
                                   bigEndian: reader.bigEndian)
    }

    /// Reads tags of a byte slice in the file's byte order, checking every size against the end.
    struct Reader {
        let bytes: ArraySlice<UInt8>
        let bigEndian: Bool
        let file: String

        func u32(at offset: Int) -> UInt32 {
            let b = bytes.startIndex + offset
            let word = bytes[b..<b + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return bigEndian ? word : word.byteSwapped
        }

        /// (type, byte count, data offset, offset of the next element); small elements included.
        func tag(at offset: Int) throws -> (UInt32, Int, Int, Int) {
            guard offset + 8 <= bytes.count else {
                throw DataError("\(file): ends inside an element tag at byte \(offset); the file is truncated. Download it again.")
            }
            let first = u32(at: offset)
            if first >> 16 != 0 {
                // A small data element: up to 4 bytes of data packed into the tag's second word.
                guard first >> 16 <= 4 else {
                    throw DataError("\(file): a small element at byte \(offset) claims \(first >> 16) bytes, more than the 4 it can hold; the file is damaged. Download it again.")
                }
                return (first & 0xFFFF, Int(first >> 16), offset + 4, offset + 8)
            }
            let size = Int(u32(at: offset + 4))
            guard offset + 8 + size <= bytes.count else {
                throw DataError("\(file): an element at byte \(offset) claims \(size) bytes but only \(bytes.count - offset - 8) remain; the file is truncated. Download it again.")
            }
            let padded = first == 15 ? size : (size + 7) / 8 * 8
            return (first, size, offset + 8, min(offset + 8 + padded, bytes.count))
        }
    }
}
