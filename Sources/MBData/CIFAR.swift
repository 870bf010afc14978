import Foundation

/// CIFAR-10 and CIFAR-100 binary versions: fixed-size records of label byte(s) then 3,072
/// pixel bytes already in (C, H, W) order.
enum CIFAR {
    static let pixels = 3 * 32 * 32

    static func loadCIFAR10(directory: String, split: Split) throws -> Dataset {
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        var data = try readFiles(names.map { directory + "/" + $0 }, labelBytes: 1, labelOffset: 0, classes: 10,
                                 what: "a CIFAR-10 binary batch (3073-byte records)")
        data.classNames = try classNames(directory + "/batches.meta.txt", classes: 10)
        return data
    }

    static func loadCIFAR100(directory: String, split: Split, labels: CIFAR100Labels) throws -> Dataset {
        let file = directory + "/" + (split == .train ? "train.bin" : "test.bin")
        var data = try readFiles([file], labelBytes: 2, labelOffset: labels == .coarse ? 0 : 1,
                                 classes: labels == .coarse ? 20 : 100,
                                 what: "a CIFAR-100 binary file (3074-byte records)")
        data.classNames = try classNames(directory + (labels == .coarse ? "/coarse_label_names.txt" : "/fine_label_names.txt"),
                                         classes: data.classes)
        return data
    }

    /// The class names the binary archives ship beside the batches (one per line, blank lines
    /// ignored: `batches.meta.txt`, `fine_label_names.txt`, `coarse_label_names.txt`); none when
    /// the file is absent (the classes are then named by their numbers), an error when it does not
    /// list exactly `classes` names.
    static func classNames(_ path: String, classes: Int) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = try readFile(path, expecting: "the \(classes) class names, one per line")
        guard bytes.count <= 1 << 16, let text = String(bytes: bytes, encoding: .utf8) else {
            throw DataError("\(path): not a UTF-8 list of \(classes) class names; download the dataset again, or delete the file to name the classes by number.")
        }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard names.count == classes else {
            throw DataError("\(path): lists \(names.count) class names, not \(classes); download the dataset again, or delete the file to name the classes by number.")
        }
        return names
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
