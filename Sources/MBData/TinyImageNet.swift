import Foundation

/// Tiny ImageNet (`tiny-imagenet-200/`): 64x64 JPEGs, labels in `wnids.txt` line order among
/// the chosen classes. `test` is the labelled `val` folder. Grayscale JPEGs become 3 channels.
enum TinyImageNet {
    static let side = 64
    static let allClasses = 200

    /// The wnids in label order: all of `wnids.txt`, or `count` of them drawn with `seed`
    /// and kept in file order.
    static func chooseClasses(directory: String, count: Int?, seed: UInt64) throws -> [String] {
        let file = directory + "/wnids.txt"
        let wnids = try classList(try readFile(file, expecting: "Tiny ImageNet's class list (one wnid a line)"), file: file)
        guard let count, count < wnids.count else {
            if let count, count > wnids.count {
                throw DataError("\(file): lists \(wnids.count) classes; data.classes asks for \(count). Lower data.classes.")
            }
            return wnids
        }
        let drawn = seededPermutation(count: wnids.count, seed: counterHash(RandomPurpose.classDraw.rawValue, seed))
        return drawn.prefix(count).sorted().map { wnids[$0] }
    }

    /// The wnids of `wnids.txt`, one a line: each a plain folder name under `train/`, none twice.
    static func classList(_ bytes: [UInt8], file: String) throws -> [String] {
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
        var wnids: [String] = []
        var seen: [String: Int] = [:]
        for (number, line) in lines.enumerated() {
            let wnid = line.trimmingCharacters(in: .whitespaces)
            guard !wnid.isEmpty else { continue }
            guard isPlainName(wnid) else {
                throw DataError("\(file): line \(number + 1) is `\(wnid.prefix(80))`, not a plain folder name; expected one WordNet id per line such as n01443537. Download the dataset again.")
            }
            if let first = seen[wnid] {
                throw DataError("\(file): line \(number + 1) repeats `\(wnid.prefix(80))` of line \(first); each class is listed once. Remove the repeated line or download the dataset again.")
            }
            seen[wnid] = number + 1
            wnids.append(wnid)
        }
        guard !wnids.isEmpty else {
            throw DataError("\(file): empty; expected one WordNet id per line (200 in Tiny ImageNet). Download the dataset again.")
        }
        return wnids
    }

    /// The (file name, wnid) pairs of `val/val_annotations.txt`, tab-separated lines whose file
    /// name is a plain name inside `val/images/`.
    static func annotations(_ bytes: [UInt8], file: String) throws -> [(name: String, wnid: String)] {
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
        return try lines.enumerated().map { number, line in
            let fields = line.split(separator: "\t")
            guard fields.count >= 2 else {
                throw DataError("\(file): line \(number + 1) has no tab-separated wnid; expected `file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1`.")
            }
            let name = String(fields[0])
            guard isPlainName(name) else {
                throw DataError("\(file): line \(number + 1) names `\(name.prefix(80))`, not a plain file name inside val/images; expected `file<TAB>wnid<TAB>...` such as val_0.JPEG. Download the dataset again.")
            }
            return (name, String(fields[1]))
        }
    }

    /// A name that stays inside the folder it is joined to: not empty, `.` or `..`, and without `/` or NUL.
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }

    static func load(directory: String, split: Split, classes: Int?, classSeed: UInt64) throws -> Dataset {
        let wnids = try chooseClasses(directory: directory, count: classes, seed: classSeed)
        let label = Dictionary(uniqueKeysWithValues: wnids.enumerated().map { ($1, Int32($0)) })
        var files: [(path: String, label: Int32)] = []
        switch split {
        case .train:
            for wnid in wnids {
                let folder = directory + "/train/\(wnid)/images"
                let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                let jpegs = names.filter { $0.uppercased().hasSuffix(".JPEG") }.sorted()
                guard !jpegs.isEmpty else {
                    throw DataError("\(folder): no .JPEG images; expected the training images of class \(wnid). Download the dataset again.")
                }
                files += jpegs.map { (folder + "/" + $0, label[wnid]!) }
            }
        case .test:
            let annotations = directory + "/val/val_annotations.txt"
            let rows = try self.annotations(try readFile(annotations, expecting: "lines `file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1`"),
                                            file: annotations)
            for row in rows {
                guard let l = label[row.wnid] else { continue }
                files.append((directory + "/val/images/" + row.name, l))
            }
            guard !files.isEmpty else {
                throw DataError("\(annotations): no images of the chosen classes; expected validation annotations for the wnids in wnids.txt.")
            }
        }
        let images = try decodeAll(files.map(\.path))
        return Dataset(channels: 3, height: side, width: side, classes: wnids.count, images: images,
                       labels: files.map(\.label), classNames: wnids)
    }

    /// Decodes every file into (N, 3, 64, 64), on all cores; the first failure is thrown.
    static func decodeAll(_ paths: [String]) throws -> [UInt8] {
        let size = 3 * side * side
        var images = [UInt8](repeating: 0, count: paths.count * size)
        let failures = Failures()
        images.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: paths.count) { i in
                do {
                    try decodeJPEG(path: paths[i], into: base + i * size)
                } catch {
                    failures.record(index: i, error: error)
                }
            }
        }
        if let error = failures.first { throw error }
        return images
    }

    /// Decodes the JPEG file at `path`, of exactly 64x64, into (3, 64, 64) at `out`.
    static func decodeJPEG(path: String, into out: UnsafeMutablePointer<UInt8>) throws {
        try decodeJPEG(try readFile(path, expecting: "a 64x64 JPEG image"), file: path, into: out)
    }

    /// Decodes the bytes of a JPEG of exactly 64x64 into (3, 64, 64) at `out`; `path` names it in errors.
    static func decodeJPEG(_ bytes: [UInt8], file path: String, into out: UnsafeMutablePointer<UInt8>) throws {
        let expected = "a 64x64 JPEG image. Download the dataset again"
        let image = try MBData.decodeJPEG(bytes, path: path, expecting: expected, maxPixels: side * side)
        guard image.width == side, image.height == side else {
            throw DataError("\(path): image is \(image.width)x\(image.height); expected 64x64 (Tiny ImageNet).")
        }
        out.update(from: image.pixels, count: image.pixels.count)
    }
}

/// The lowest-indexed error recorded by concurrent workers.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var byIndex: (Int, Error)?
    func record(index: Int, error: Error) {
        lock.lock()
        defer { lock.unlock() }
        if byIndex == nil || index < byIndex!.0 { byIndex = (index, error) }
    }
    var first: Error? { byIndex?.1 }
}
