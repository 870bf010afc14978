import MBBase

/// MNIST in IDX format, `.gz` or raw: images (N, 1, 28, 28), labels 0-9.
enum MNIST {
    static func load(directory: String, split: Split) throws -> Dataset {
        let prefix = split == .train ? "train" : "t10k"
        let images = try readIDX(directory + "/\(prefix)-images-idx3-ubyte", magic: 0x0803, what: "MNIST images")
        let labels = try readIDX(directory + "/\(prefix)-labels-idx1-ubyte", magic: 0x0801, what: "MNIST labels")
        guard images.dims.count == 3, labels.dims.count == 1, images.dims[0] == labels.dims[0] else {
            throw DataError("\(images.file) holds \(images.dims) images but \(labels.file) holds \(labels.dims) labels; expected the same count N in both. Use files from the same split.")
        }
        let values = labels.data.map { Int32($0) }
        try checkLabels(values, classes: 10, file: labels.file)
        return Dataset(channels: 1, height: images.dims[1], width: images.dims[2], classes: 10,
                       images: images.data, labels: values)
    }

    struct IDX {
        var file: String
        var dims: [Int]
        var data: [UInt8]
    }

    /// Reads `base` or `base.gz`: a big-endian unsigned-byte IDX array whose magic is `magic`.
    static func readIDX(_ base: String, magic: UInt32, what: String) throws -> IDX {
        let expected = "\(what) in IDX format (magic \(magic)), raw or .gz"
        let file = try firstExisting([base, base + ".gz"], expecting: expected)
        return try parseIDX(try readFile(file, expecting: expected), file: file, magic: magic, what: what)
    }

    /// An IDX array from the bytes of `file` (gzip-compressed when the name ends in .gz). The
    /// header's dimensions are checked before the data is inflated or copied.
    static func parseIDX(_ bytes: [UInt8], file: String, magic: UInt32, what: String) throws -> IDX {
        let rank = Int(magic & 0xFF)
        let headerSize = 4 + 4 * rank
        let compressed = file.hasSuffix(".gz")
        let header = compressed
            ? try bytes.withUnsafeBytes { try inflate($0, limit: headerSize, prefix: true, file: file) } : bytes
        guard header.count >= headerSize, bigEndianUInt32(header, at: 0) == magic else {
            let found = header.count >= 4 ? String(bigEndianUInt32(header, at: 0)) : "a \(header.count)-byte file"
            throw DataError("\(file): magic number is \(found); expected \(magic) (\(what), IDX). Check that the file is the one named.")
        }
        let dims = (0..<rank).map { Int(bigEndianUInt32(header, at: 4 + 4 * $0)) }
        guard let size = checkedProduct(dims), Double(size) <= MemoryLimit.bytesPerRank else {
            throw DataError("\(file): dimensions \(dims) would hold more bytes than the \(MemoryLimit.explained) this process may hold; the file is damaged or not \(what). Download it again.")
        }
        let total = headerSize + size
        let data = compressed ? try bytes.withUnsafeBytes { try inflate($0, limit: total, file: file) } : bytes
        guard data.count == total else {
            throw DataError("\(file): \(data.count) bytes\(compressed ? " inflated" : ""); expected \(total) for dimensions \(dims). The file is truncated or damaged; download it again.")
        }
        return IDX(file: file, dims: dims, data: Array(data[headerSize...]))
    }
}
