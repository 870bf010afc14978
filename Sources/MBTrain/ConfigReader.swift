import Foundation
import MBBase
import Yams

/// A user error in a configuration: the message names the key, what was found and what is allowed.
public struct ConfigError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }

/// A configuration document as plain data: scalars stay strings until a section reads them with a type.
public indirect enum ConfigValue: Equatable {
    case scalar(String)
    case list([ConfigValue])
    case map([ConfigEntry])

    /// The largest config text read (configs are a few kilobytes), the deepest nesting of lists and
    /// mappings, and the most values a document may hold once YAML aliases are expanded.
    public static let maxBytes = 65_536
    public static let maxDepth = 32
    public static let maxValues = 100_000

    /// Parses YAML text. `source` names the text in error messages (a file path or `--set`).
    public static func parse(yaml: String, source: String) throws -> ConfigValue {
        guard yaml.utf8.count <= maxBytes else {
            throw ConfigError("\(source): longer than the \(maxBytes) bytes a config may have; give a config file of sections such as `model:` and `data:` (see configs/).")
        }
        // Yams composes recursively, a stack frame per level of nesting: parsed on a thread with a
        // stack that holds the deepest nesting `maxBytes` of text can express.
        return try onLargeStack {
            let node: Node?
            do {
                node = try Yams.compose(yaml: yaml)
            } catch {
                let first = "\(error)".split(separator: "\n").first.map { String($0.prefix(200)) } ?? ""
                throw ConfigError("\(source): not valid YAML (\(first)). Fix the syntax; see configs/ for examples.")
            }
            guard let node else { return .map([]) }
            var budget = maxValues
            return try ConfigValue(node: node, source: source, depth: 0, budget: &budget)
        }
    }

    init(node: Node, source: String, depth: Int, budget: inout Int) throws {
        guard depth < Self.maxDepth else {
            throw ConfigError("\(source): lists and mappings nest more than \(Self.maxDepth) levels deep; a config needs three or four.")
        }
        budget -= 1
        guard budget >= 0 else {
            throw ConfigError("\(source): holds more than \(Self.maxValues) values once its YAML aliases (*name) are expanded; write the values out, without aliases that repeat aliases.")
        }
        switch node {
        case .scalar(let s):
            self = .scalar(s.string)
        case .sequence(let seq):
            var items: [ConfigValue] = []
            for item in seq { items.append(try ConfigValue(node: item, source: source, depth: depth + 1, budget: &budget)) }
            self = .list(items)
        case .mapping(let mapping):
            var entries: [ConfigEntry] = []
            for (key, value) in mapping {
                guard case .scalar(let k) = key else {
                    throw ConfigError("\(source): a mapping key is not a plain name; use `name: value`.")
                }
                if entries.contains(where: { $0.key == k.string }) {
                    throw ConfigError("\(source): key `\(k.string)` appears twice; keep one.")
                }
                entries.append(ConfigEntry(key: k.string, value: try ConfigValue(node: value, source: source, depth: depth + 1, budget: &budget)))
            }
            self = .map(entries)
        }
    }

    /// Sets `dotted.key.path` to `value`, creating maps on the way (used by `--set key=value`).
    public mutating func set(path: [String], to value: ConfigValue) throws {
        guard let first = path.first else { self = value; return }
        guard case .map(var entries) = self else {
            throw ConfigError("--set: `\(first)` is inside a value that is not a mapping.")
        }
        if let i = entries.firstIndex(where: { $0.key == first }) {
            try entries[i].value.set(path: Array(path.dropFirst()), to: value)
        } else {
            var fresh = ConfigValue.map([])
            try fresh.set(path: Array(path.dropFirst()), to: value)
            entries.append(ConfigEntry(key: first, value: fresh))
        }
        self = .map(entries)
    }

    /// Applies one `key.path=value` override; the value is read as YAML (`[8, 8]`, `true`, `0.1`).
    public mutating func apply(override: String) throws {
        guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
            throw ConfigError("--set \(override): expected key=value, e.g. --set model.k=8.")
        }
        let path = override[..<eq].split(separator: ".").map(String.init)
        let text = String(override[override.index(after: eq)...])
        let shown = override.count > 100 ? override.prefix(100) + "…" : Substring(override)
        let value = try ConfigValue.parse(yaml: text.isEmpty ? "''" : text, source: "--set \(shown)")
        try set(path: path, to: value)
    }

    /// Renders as YAML (block style for maps, flow style for lists of scalars).
    public func yaml(indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .scalar(let s): return Self.yamlScalar(s)
        case .list(let items): return "[" + items.map { $0.yaml() }.joined(separator: ", ") + "]"
        case .map(let entries):
            return entries.map { entry in
                if case .map = entry.value {
                    return "\(pad)\(entry.key):\n" + entry.value.yaml(indent: indent + 2)
                }
                return "\(pad)\(entry.key): \(entry.value.yaml())\n"
            }.joined()
        }
    }
}

extension ConfigValue {
    /// `s` as a YAML scalar that reads back as `s`, in a block mapping or a flow list: plain where
    /// that is safe (numbers, names, most paths), single-quoted where plain text would be read as
    /// something else (`a: b`, `x #y`, a leading indicator, commas and brackets, outer spaces),
    /// double-quoted with escapes where it holds control characters.
    static func yamlScalar(_ s: String) -> String {
        guard let first = s.first else { return "''" }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            var quoted = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\\": quoted += "\\\\"
                case "\"": quoted += "\\\""
                case "\n": quoted += "\\n"
                case "\t": quoted += "\\t"
                case _ where u.value < 0x20 || u.value == 0x7f: quoted += String(format: "\\x%02X", u.value)
                default: quoted.unicodeScalars.append(u)
                }
            }
            return quoted + "\""
        }
        let second = s.dropFirst().first
        let leadingIndicator = "?:-".contains(first) ? (second == nil || second == " ") : "#&*!|>'\"%@`,[]{}".contains(first)
        let plain = !leadingIndicator && !s.contains(": ") && !s.contains(" #") && !s.hasSuffix(":")
            && first != " " && s.last != " " && !s.contains(where: { ",[]{}".contains($0) })
        return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
    }
}

public struct ConfigEntry: Equatable {
    public var key: String
    public var value: ConfigValue
}

/// Reads one mapping of a configuration with typed getters. Every key a getter asks for is known;
/// `finish()` rejects the keys nobody asked for, naming the nearest known one. Every value read
/// (given or defaulted) is recorded, so the resolved configuration can be written out.
public final class ConfigSection {
    public let path: String
    private let entries: [ConfigEntry]
    private var known: [String] = []
    private(set) var resolved: [ConfigEntry] = []

    public init(path: String, value: ConfigValue?) throws {
        self.path = path
        switch value {
        case nil: entries = []
        case .map(let e)?: entries = e
        case .scalar(let s)? where s.isEmpty || s == "~" || s == "null": entries = []
        default:
            if path.isEmpty {
                throw ConfigError("the top level is a list or a single value; a config is a mapping of sections such as `model:` and `data:` (see configs/).")
            }
            throw ConfigError("`\(path)` must be a mapping of keys to values.")
        }
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func raw(_ key: String) -> ConfigValue? {
        known.append(key)
        return entries.first(where: { $0.key == key })?.value
    }

    func record(_ key: String, _ value: ConfigValue) {
        resolved.append(ConfigEntry(key: key, value: value))
    }

    public func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    func scalar(_ key: String) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard case .scalar(let s) = v else {
            throw ConfigError("`\(name(key))` must be a single value, not a list or mapping.")
        }
        return s
    }

    public func int(_ key: String, default def: Int, min: Int? = nil, max: Int? = nil) throws -> Int {
        var value = def
        if let s = try scalar(key) {
            guard let v = Int(s) else { throw ConfigError("`\(name(key))`: `\(s)` is not a whole number.") }
            value = v
        }
        try check(key, value, min: min, max: max)
        record(key, .scalar(String(value)))
        return value
    }

    public func double(_ key: String, default def: Double, min: Double? = nil, max: Double? = nil) throws -> Double {
        var value = def
        if let s = try scalar(key) {
            guard let v = Double(s), v.isFinite else { throw ConfigError("`\(name(key))`: `\(s)` is not a number.") }
            value = v
        }
        if let min, value < min { throw ConfigError("`\(name(key))` is \(value); it must be at least \(min).") }
        if let max, value > max { throw ConfigError("`\(name(key))` is \(value); it must be at most \(max).") }
        record(key, .scalar(String(value)))
        return value
    }

    public func bool(_ key: String, default def: Bool) throws -> Bool {
        var value = def
        if let s = try scalar(key) {
            switch s.lowercased() {
            case "true", "yes", "on": value = true
            case "false", "no", "off": value = false
            default: throw ConfigError("`\(name(key))`: `\(s)` is not true or false.")
            }
        }
        record(key, .scalar(String(value)))
        return value
    }

    public func string(_ key: String, default def: String, allowed: [String]? = nil) throws -> String {
        let value = try scalar(key) ?? def
        if let allowed, !allowed.contains(value) {
            throw ConfigError("`\(name(key))`: `\(value)` is not allowed; use one of: \(allowed.joined(separator: ", ")).")
        }
        record(key, .scalar(value.isEmpty ? "''" : value))
        return value
    }

    /// A case of `Choice` by its raw value; the error lists the cases.
    public func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, default def: Choice) throws -> Choice
    where Choice.RawValue == String {
        Choice(rawValue: try string(key, default: def.rawValue, allowed: Choice.allCases.map(\.rawValue)))!
    }

    public func intList(_ key: String, default def: [Int], min: Int? = nil, max: Int? = nil) throws -> [Int] {
        var value = def
        if let v = raw(key) {
            guard case .list(let items) = v else {
                throw ConfigError("`\(name(key))` must be a list of whole numbers, e.g. [64, 64, 128].")
            }
            value = try items.map { item in
                guard case .scalar(let s) = item, let n = Int(s) else {
                    throw ConfigError("`\(name(key))` must be a list of whole numbers, e.g. [64, 64, 128].")
                }
                return n
            }
        }
        for (i, n) in value.enumerated() {
            if let min, n < min { throw ConfigError("`\(name(key))[\(i)]` is \(n); it must be at least \(min).") }
            if let max, n > max { throw ConfigError("`\(name(key))[\(i)]` is \(n); it must be at most \(max).") }
        }
        record(key, .list(value.map { .scalar(String($0)) }))
        return value
    }

    public func doubleList(_ key: String, default def: [Double]) throws -> [Double] {
        var value = def
        if let v = raw(key) {
            guard case .list(let items) = v else {
                throw ConfigError("`\(name(key))` must be a list of numbers, e.g. [0.5, 0.5, 0.5].")
            }
            value = try items.map { item in
                guard case .scalar(let s) = item, let n = Double(s), n.isFinite else {
                    throw ConfigError("`\(name(key))` must be a list of numbers, e.g. [0.5, 0.5, 0.5].")
                }
                return n
            }
        }
        record(key, .list(value.map { .scalar(String($0)) }))
        return value
    }

    /// A nested mapping; its resolved values are recorded under `key` when it finishes.
    public func section(_ key: String) throws -> ConfigSection {
        try ConfigSection(path: name(key), value: raw(key))
    }

    public func record(section: ConfigSection) {
        let key = String(section.path.split(separator: ".").last ?? "")
        record(key, section.resolvedValue)
    }

    public var resolvedValue: ConfigValue { .map(resolved) }

    func check(_ key: String, _ value: Int, min: Int?, max: Int?) throws {
        if let min, value < min { throw ConfigError("`\(name(key))` is \(value); it must be at least \(min).") }
        if let max, value > max { throw ConfigError("`\(name(key))` is \(value); it must be at most \(max).") }
    }

    /// Rejects keys that no getter asked for.
    public func finish() throws {
        for entry in entries where !known.contains(entry.key) {
            var message = "unknown key `\(name(entry.key))`"
            if let near = nearest(entry.key, in: known) { message += "; did you mean `\(name(near))`?" }
            message += " Known keys here: \(known.joined(separator: ", "))."
            throw ConfigError(message)
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a plausible typo.
func nearest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
    let w = Array(word.lowercased())
    let scored = candidates.map { ($0, distance(w, Array($0.lowercased()))) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, w.count / 3) ? best.0 : nil
}

/// Runs `body` on a thread with a 512 MiB stack (reserved, touched only as deep as `body` goes),
/// joins it, and returns its result or rethrows its error. Joined, the thread has released
/// everything it held when this returns.
func onLargeStack<T>(_ body: @escaping () throws -> T) throws -> T {
    var outcome: Result<T, Error>?
    let job = Job { outcome = Result { try body() } }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, 512 << 20)
    var thread = pthread_t()
    let context = Unmanaged.passRetained(job).toOpaque()
    let status = pthread_create(&thread, &attributes, { context in
        Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, context)
    guard status == 0 else {
        Unmanaged<Job>.fromOpaque(context).release()
        throw ConfigError("cannot start a thread to read the config (\(String(cString: strerror(status)))); the system is out of threads or memory. Try again when fewer processes run.")
    }
    pthread_join(thread, nil)
    return try outcome!.get()
}

/// The work a large-stack thread runs; the thread holds the only reference while it runs.
private final class Job {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
