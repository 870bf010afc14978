/// CIFAR-10 and CIFAR-100 binary versions: fixed-size records of label byte(s) then 3,072
/// pixel bytes already in (C, H, W) order.
enum CIFAR {
    static let pixels = 3 * 32 * 32

    static func loadCIFAR10(directory: String, split: Split) throws -> Dataset {
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        return try readFiles(names.map { directory + "/" + $0 }, labelBytes: 1, labelOffset: 0, classes: 10,
                             what: "a CIFAR-10 binary batch (3073-byte records)")
    }

    static func loadCIFAR100(directory: String, split: Split, labels: CIFAR100Labels) throws -> Dataset {
        let file = directory + "/" + (split == .train ? "train.bin" : "test.bin")
        return try readFiles([file], labelBytes: 2, labelOffset: labels == .coarse ? 0 : 1,
                             classes: labels == .coarse ? 20 : 100,
                             what: "a CIFAR-100 binary file (3074-byte records)")
    }

    static func readFiles(_ files: [String], labelBytes: Int, labelOffset: Int, classes: Int,
                          what: String) throws -> Dataset {
        var images: [UInt8] = []
        var labels: [Int32] = []
        for file in files {
            let part = try parseRecords(try readFile(file, expecting: what), file: file, labelBytes: labelBytes,
                                        labelOffset: labelOffset, classes: classes, what: what)
            images += part.images
            labels += part.labels
        }
        return Dataset(channels: 3, height: 32, width: 32, classes: classes, images: images, labels: labels)
    }

    /// The records of one file's bytes: `labelBytes` label bytes (the one at `labelOffset` is
    /// used) then the pixels, checked for whole records and labels below `classes`.
    static func parseRecords(_ bytes: [UInt8], file: String, labelBytes: Int, labelOffset: Int, classes: Int,
                             what: String) throws -> (images: [UInt8], labels: [Int32]) {
        let record = labelBytes + pixels
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw DataError("\(file): \(bytes.count) bytes is not a whole number of \(record)-byte records; expected \(what). The file is truncated or not this dataset; download it again.")
        }
        let n = bytes.count / record
        let labels = (0..<n).map { Int32(bytes[$0 * record + labelOffset]) }
        try checkLabels(labels, classes: classes, file: file)
        var images: [UInt8] = []
        images.reserveCapacity(n * pixels)
        bytes.withUnsafeBufferPointer { b in
            for i in 0..<n {
                let start = i * record + labelBytes
                images.append(contentsOf: b[start..<start + pixels])
            }
        }
        return (images, labels)
    }
}
