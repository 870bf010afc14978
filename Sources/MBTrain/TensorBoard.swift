import Foundation
import MBBase
import MBDistributed

/// One TensorBoard event as mbc writes it: the few fields of TensorFlow's `Event` message
/// (tensorflow/core/util/event.proto) that scalar logging needs.
public struct TensorBoardEvent: Equatable {
    public struct Scalar: Equatable {
        public var tag: String
        public var value: Float
    }

    public var wallTime: Double
    public var step: Int
    /// Set on the first event of a file only: "brain.Event:2".
    public var fileVersion: String?
    public var scalars: [Scalar]

    public init(wallTime: Double, step: Int, fileVersion: String? = nil, scalars: [Scalar] = []) {
        self.wallTime = wallTime
        self.step = step
        self.fileVersion = fileVersion
        self.scalars = scalars
    }

    /// The protobuf encoding: Event { double wall_time = 1; int64 step = 2; string file_version = 3;
    /// Summary summary = 5 }, Summary { repeated Value value = 1 }, Value { string tag = 1;
    /// float simple_value = 2 }. Written by hand: five fields do not justify a protobuf runtime.
    var protobuf: [UInt8] {
        var out: [UInt8] = [0x09]
        withUnsafeBytes(of: wallTime.bitPattern.littleEndian) { out += $0 }
        out.append(0x10)
        appendVarint(UInt64(bitPattern: Int64(step)), to: &out)
        if let fileVersion { appendField(3, Array(fileVersion.utf8), to: &out) }
        if !scalars.isEmpty {
            var summary: [UInt8] = []
            for s in scalars {
                var value: [UInt8] = []
                appendField(1, Array(s.tag.utf8), to: &value)
                value.append(0x15)
                withUnsafeBytes(of: s.value.bitPattern.littleEndian) { value += $0 }
                appendField(1, value, to: &summary)
            }
            appendField(5, summary, to: &out)
        }
        return out
    }

    /// Decodes an Event message; fields other than those above are skipped. Nil when the bytes
    /// are not a well-formed message.
    init?(protobuf bytes: ArraySlice<UInt8>) {
        self.init(wallTime: 0, step: 0)
        var fields = ProtobufFields(bytes)
        while let field = fields.next() {
            switch field {
            case .fixed64(1, let bits): wallTime = Double(bitPattern: bits)
            case .varint(2, let v): step = Int(Int64(bitPattern: v))
            case .bytes(3, let text): fileVersion = String(decoding: text, as: UTF8.self)
            case .bytes(5, let summary):
                var values = ProtobufFields(summary)
                while let value = values.next() {
                    guard case .bytes(1, let valueBytes) = value else { continue }
                    var tag: String?, number: Float?
                    var parts = ProtobufFields(valueBytes)
                    while let part = parts.next() {
                        switch part {
                        case .bytes(1, let t): tag = String(decoding: t, as: UTF8.self)
                        case .fixed32(2, let bits): number = Float(bitPattern: bits)
                        default: break
                        }
                    }
                    if parts.failed { return nil }
                    if let tag, let number { scalars.append(Scalar(tag: tag, value: number)) }
                }
                if values.failed { return nil }
            default: break
            }
        }
        if fields.failed { return nil }
    }
}

/// TFRecord framing: each record is its length (UInt64, little-endian), the masked CRC-32C of
/// those 8 bytes, the data, and the masked CRC-32C of the data (both UInt32, little-endian).
enum TFRecord {
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        withUnsafeBytes(of: UInt64(data.count).littleEndian) { length += $0 }
        var out = length
        withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { out += $0 }
        out += data
        withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { out += $0 }
        return out
    }

    /// The records of `bytes`, up to the first one that is truncated or fails its checksum (a
    /// writer killed mid-record leaves such a tail); `complete` is false when there was one.
    static func records(_ bytes: [UInt8]) -> (records: [ArraySlice<UInt8>], complete: Bool) {
        func uint(_ at: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
        }
        var records: [ArraySlice<UInt8>] = []
        var at = 0
        while at < bytes.count {
            guard bytes.count - at >= 12, UInt32(uint(at + 8, 4)) == CRC32C.masked(bytes[at..<at + 8]) else { return (records, false) }
            let length = uint(at, 8)
            guard bytes.count - at >= 16, length <= UInt64(bytes.count - at - 16) else { return (records, false) }
            let data = bytes[(at + 12)..<(at + 12 + Int(length))]
            guard UInt32(uint(data.endIndex, 4)) == CRC32C.masked(data) else { return (records, false) }
            records.append(data)
            at = data.endIndex + 4
        }
        return (records, true)
    }
}

/// Scalars for TensorBoard: rank 0 writes one event file per session under RUN_DIR/tensorboard,
/// so `tensorboard --logdir runs` shows every run. A resumed run starts a new file and skips
/// any scalar at or before the last step already written under its tag, so no step appears twice.
public final class TensorBoardWriter {
    public let path: String
    /// The last step written under each tag, by this session or an earlier one.
    public private(set) var lastStep: [String: Int]
    private let handle: FileHandle

    /// Reads the steps already written in `runDirectory/tensorboard`, then creates a new file
    /// there beginning with the file-version event.
    public init(runDirectory: String, now: Date = Date()) throws {
        let directory = runDirectory + "/tensorboard"
        let fm = FileManager.default
        var last: [String: Int] = [:]
        for file in TensorBoardWriter.eventFiles(in: directory) {
            for event in try TensorBoardWriter.events(inFile: file).events {
                for s in event.scalars { last[s.tag] = max(last[s.tag] ?? event.step, event.step) }
            }
        }
        lastStep = last
        let base = directory + String(format: "/events.out.tfevents.%010d.", Int(now.timeIntervalSince1970))
            + hostName() + ".\(getpid())"
        var candidate = base
        var n = 0
        while fm.fileExists(atPath: candidate) {
            n += 1
            candidate = base + ".\(n)"
        }
        path = candidate
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard fm.createFile(atPath: path, contents: nil) else { throw CocoaError(.fileWriteNoPermission) }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        } catch {
            throw CheckpointError("cannot create the TensorBoard event file `\(path)` (\(systemErrorText(error))); check that the run directory is writable.")
        }
        try append(TensorBoardEvent(wallTime: now.timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2"))
    }

    deinit { try? handle.close() }

    /// Writes the scalars of `values` whose tag has no step at or after `step` yet, as one event.
    public func write(step: Int, _ values: [(tag: String, value: Double)], now: Date = Date()) throws {
        let fresh = values.filter { step > (lastStep[$0.tag] ?? -1) }
        guard !fresh.isEmpty else { return }
        try append(TensorBoardEvent(wallTime: now.timeIntervalSince1970, step: step,
                                    scalars: fresh.map { .init(tag: $0.tag, value: Float($0.value)) }))
        for v in fresh { lastStep[v.tag] = step }
    }

    /// Training loss, learning rate and throughput at each progress report; test loss, top-1 and
    /// top-5 (fractions, as in eval.jsonl) at each evaluation.
    public func record(_ event: TrainingEvent) throws {
        switch event {
        case .progress(let step, _, _, let loss, let lr, let imagesPerSecond):
            try write(step: step, [("train/loss", loss), ("train/lr", lr), ("train/images_per_second", imagesPerSecond)])
        case .evaluated(let r):
            try write(step: r.step, [("test/loss", r.testLoss), ("test/top1", r.testTop1), ("test/top5", r.testTop5)])
        case .resumed, .checkpointed, .allreduceChosen: break
        }
    }

    private func append(_ event: TensorBoardEvent) throws {
        do {
            try handle.write(contentsOf: TFRecord.frame(event.protobuf))
        } catch {
            throw CheckpointError("cannot write the TensorBoard event file `\(path)` (\(systemErrorText(error))).")
        }
    }

    /// The event files of a directory, in name order (TensorBoard's reading order).
    public static func eventFiles(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.contains("tfevents") }.sorted().map { directory + "/" + $0 }
    }

    /// The events of one file, up to a truncated or corrupt tail (`complete` false).
    public static func events(inFile path: String) throws -> (events: [TensorBoardEvent], complete: Bool) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError("cannot read the TensorBoard event file `\(path)`.")
        }
        let (records, framed) = TFRecord.records([UInt8](data))
        var events: [TensorBoardEvent] = []
        for record in records {
            guard let event = TensorBoardEvent(protobuf: record) else { return (events, false) }
            events.append(event)
        }
        return (events, framed)
    }
}

/// The fields of a protobuf message, one at a time; `failed` once the bytes are malformed.
struct ProtobufFields {
    enum Field {
        case varint(Int, UInt64)
        case fixed64(Int, UInt64)
        case bytes(Int, ArraySlice<UInt8>)
        case fixed32(Int, UInt32)
    }

    private let bytes: ArraySlice<UInt8>
    private var at: Int
    private(set) var failed = false

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        at = bytes.startIndex
    }

    private mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard at < bytes.endIndex else { return nil }
            let b = bytes[at]
            at += 1
            value |= UInt64(b & 0x7F) << UInt64(shift)
            if b & 0x80 == 0 { return value }
        }
        return nil
    }

    private mutating func fixed(_ count: Int) -> UInt64? {
        guard bytes.endIndex - at >= count else { return nil }
        defer { at += count }
        return (0..<count).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
    }

    mutating func next() -> Field? {
        guard !failed, at < bytes.endIndex else { return nil }
        guard let key = varint() else { failed = true; return nil }
        let number = Int(key >> 3)
        let field: Field?
        switch key & 7 {
        case 0: field = varint().map { .varint(number, $0) }
        case 1: field = fixed(8).map { .fixed64(number, $0) }
        case 2:
            if let length = varint(), length <= UInt64(bytes.endIndex - at) {
                field = .bytes(number, bytes[at..<(at + Int(length))])
                at += Int(length)
            } else {
                field = nil
            }
        case 5: field = fixed(4).map { .fixed32(number, UInt32($0)) }
        default: field = nil
        }
        if field == nil { failed = true }
        return field
    }
}

func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(v & 0x7F) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

/// A length-delimited field (wire type 2).
func appendField(_ number: Int, _ data: [UInt8], to out: inout [UInt8]) {
    appendVarint(UInt64(number << 3 | 2), to: &out)
    appendVarint(UInt64(data.count), to: &out)
    out += data
}
