import COpenBLAS
import Glibc
import MBBase

/// An OpenBLAS kernel set: the name `OPENBLAS_CORETYPE` takes and `openblas_get_corename`
/// reports, and the CPU features its code needs.
public struct BLASCore: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let needs: CPUFeatures
    public var description: String { name }

    public static let haswell = BLASCore(name: "Haswell", needs: .avx2FMA)
    public static let zen = BLASCore(name: "Zen", needs: .avx2FMA)
    public static let skylakeX = BLASCore(name: "SkylakeX", needs: .avx512)
    static let all: [BLASCore] = [.haswell, .zen, .skylakeX]

    /// The kernel sets mbc asks OpenBLAS for on `cpu`, best first; the first one the installed
    /// OpenBLAS has and that passes the start-up check runs. Empty (no AVX2 with FMA): OpenBLAS's
    /// own choice stands.
    ///
    /// By features, not model numbers; measured with `mbc-bench` (BENCHMARKS.md, "OpenBLAS kernel
    /// choice"). AVX-512 gets SkylakeX, bf16 or not: OpenBLAS's Cooperlake set is SkylakeX's sgemm
    /// plus bf16 products mbc does not call (the two ran at the same rates), 0.3.21 cannot be made
    /// to load it (`OPENBLAS_CORETYPE=Cooperlake` is "Core not found") and has no SapphireRapids
    /// set, and on its own it takes an Intel family 6 model 207 for generic Prescott, 4-5x slower.
    /// On AMD the Zen kernels come first unless the CPU has AVX-VNNI, which among AMD CPUs marks
    /// Zen 5 and its full-width 512-bit units: there the AVX-512 kernels trained 15-30 % faster,
    /// while on Zen 4 (AVX-512 in two 256-bit halves, no AVX-VNNI) the Zen kernels trained 9 %
    /// faster than the Cooperlake ones OpenBLAS picks there.
    public static func preferred(for cpu: CPUFeatures) -> [BLASCore] {
        let order: [BLASCore]
        if cpu.contains(.amd) {
            order = cpu.contains(.avxVNNI) ? [.skylakeX, .zen] : [.zen, .skylakeX]
        } else {
            order = [.skylakeX, .haswell]
        }
        return order.filter { cpu.isSuperset(of: $0.needs) }
    }
}

/// Which OpenBLAS kernels this process runs, who chose them, and what was passed over on the way.
public struct BLASChoice: Equatable, Sendable {
    public enum Source: Equatable, Sendable {
        /// mbc's pick for this CPU (`BLASCore.preferred(for:)`).
        case mbc
        /// The user's `OPENBLAS_CORETYPE`.
        case environment
        /// OpenBLAS's own detection.
        case openblas
    }

    /// The kernel set, as `openblas_get_corename` names it.
    public var core: String
    public var source: Source
    /// One sentence per kernel set passed over, e.g. one whose sgemm failed the start-up check.
    public var notes: [String]

    /// E.g. `SkylakeX (chosen by mbc)`, `Haswell (OPENBLAS_CORETYPE)`, or `Zen (chosen by mbc;
    /// SkylakeX refused: its sgemm failed the start-up check)`.
    public var summary: String {
        let who: String
        switch source {
        case .mbc: who = "chosen by mbc"
        case .environment: who = "OPENBLAS_CORETYPE"
        case .openblas: who = "OpenBLAS's own pick"
        }
        return "\(core) (" + ([who] + notes).joined(separator: "; ") + ")"
    }
}

public struct BLASLoadError: MessageError {
    public let message: String
    init(_ message: String) { self.message = message }
}

/// A loaded BLAS library, as the kernel choice sees it (`OpenBLASLibrary`, or a stand-in in tests).
protocol LoadedBLAS {
    /// The kernel set it runs, as `openblas_get_corename` names it.
    var coreName: String { get }
    func unload()
}

/// Loads BLAS with one kernel set after another and keeps the first that loads under the name
/// asked for and passes `check`: the user's `OPENBLAS_CORETYPE` (unless it names kernels this CPU
/// cannot run), then `BLASCore.preferred(for: cpu)`, then OpenBLAS's own detection (`nil`). Each
/// one passed over leaves a note. Throws when every one fails the check.
func chooseBLASCore<Library: LoadedBLAS>(userCore: String?, cpu: CPUFeatures, load: (String?) throws -> Library,
                                         check: (Library) -> Bool) throws -> (library: Library, choice: BLASChoice) {
    var notes: [String] = []
    var attempts: [(core: String?, source: BLASChoice.Source)] = []
    if let userCore {
        let known = BLASCore.all.first { $0.name.lowercased() == userCore.lowercased() }
        if let known, !cpu.isSuperset(of: known.needs) {
            notes.append("OPENBLAS_CORETYPE=\(userCore) ignored: this CPU lacks \(known.needs.subtracting(cpu))")
        } else {
            attempts.append((userCore, .environment))
        }
    }
    attempts += BLASCore.preferred(for: cpu).map { ($0.name, .mbc) }
    attempts.append((nil, .openblas))

    var refused: [String] = []
    for (core, source) in attempts {
        let library = try load(core)
        let name = library.coreName
        if let core, name.lowercased() != core.lowercased() {
            notes.append("\(source == .environment ? "OPENBLAS_CORETYPE=" : "")\(core) skipped: this OpenBLAS has no such kernels")
            library.unload()
            continue
        }
        if refused.contains(name) {
            library.unload()
            continue
        }
        guard check(library) else {
            notes.append("\(name) refused: its sgemm failed the start-up check")
            refused.append(name)
            library.unload()
            continue
        }
        return (library, BLASChoice(core: name, source: source, notes: notes))
    }
    throw BLASLoadError("OpenBLAS computes wrong sgemm products on this CPU with every kernel set tried (\(refused.joined(separator: ", "))); "
                        + "set OPENBLAS_CORETYPE to one that works (e.g. Prescott, the generic x86-64 kernels).")
}

/// libopenblas, opened with `dlopen` after setting `OPENBLAS_CORETYPE`: OpenBLAS reads that variable
/// once, as it loads, so a library linked at build time would have chosen before mbc could.
final class OpenBLASLibrary: LoadedBLAS {
    let handle: UnsafeMutableRawPointer
    let sgemm: mbc_sgemm_fn
    let setThreads: mbc_set_threads_fn
    let getThreads: mbc_get_threads_fn
    let coreName: String

    private init(handle: UnsafeMutableRawPointer, sgemm: mbc_sgemm_fn, setThreads: mbc_set_threads_fn,
                 getThreads: mbc_get_threads_fn, coreName: String) {
        self.handle = handle
        self.sgemm = sgemm
        self.setThreads = setThreads
        self.getThreads = getThreads
        self.coreName = coreName
    }

    /// Loads OpenBLAS with `OPENBLAS_CORETYPE=core` (`nil`: unset, OpenBLAS detects the CPU); the
    /// variable is put back as it was afterwards, so child processes make their own choice.
    static func open(core: String?) throws -> OpenBLASLibrary {
        let saved = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        if let core { setenv("OPENBLAS_CORETYPE", core, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        defer { if let saved { setenv("OPENBLAS_CORETYPE", saved, 1) } else { unsetenv("OPENBLAS_CORETYPE") } }

        var failures: [String] = []
        var opened: UnsafeMutableRawPointer?
        for file in ["libopenblas.so.0", "libopenblas.so"] {
            opened = dlopen(file, RTLD_NOW | RTLD_LOCAL)
            if opened != nil { break }
            failures.append(dlerror().map { String(cString: $0) } ?? file)
        }
        guard let handle = opened else {
            throw BLASLoadError("cannot load OpenBLAS (\(failures.joined(separator: "; "))); install it with launch/install-deps.sh (Debian: libopenblas0).")
        }
        func function<T>(_ name: String, _ type: T.Type) throws -> T {
            guard let address = dlsym(handle, name) else {
                dlclose(handle)
                throw BLASLoadError("the OpenBLAS found has no \(name); install OpenBLAS 0.3 or later (Debian: libopenblas0).")
            }
            return unsafeBitCast(address, to: type)
        }
        let corename = try function("openblas_get_corename", mbc_get_corename_fn.self)
        return OpenBLASLibrary(handle: handle, sgemm: try function("cblas_sgemm", mbc_sgemm_fn.self),
                               setThreads: try function("openblas_set_num_threads", mbc_set_threads_fn.self),
                               getThreads: try function("openblas_get_num_threads", mbc_get_threads_fn.self),
                               coreName: corename().map { String(cString: $0) } ?? "unknown")
    }

    func unload() { dlclose(handle) }

    func passesStartUpCheck() -> Bool { sgemmPassesStartUpCheck(sgemm) }
}

/// The start-up check of an sgemm: small-integer matrices, whose products Float32 holds exactly in
/// any summation order, in all four transpose combinations with alpha 0.5 and beta -2, at a shape
/// under OpenBLAS's small-matrix threshold (13x17x19) and one above it (71x123x131, 1.1 M
/// multiply-adds: the packed kernels, with ragged edges). Every result must equal a plain loop's
/// exactly, and the padding between C's rows must stay untouched. About a millisecond.
func sgemmPassesStartUpCheck(_ sgemm: mbc_sgemm_fn) -> Bool {
    func values(_ count: Int, seed: UInt32) -> [Float] {
        (0..<count).map { Float(Int(((UInt32($0) &+ seed) &* 2_654_435_761) >> 29) - 3) }  // -3...4
    }
    func transposed(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        (0..<rows * columns).map { x[($0 % rows) * columns + $0 / rows] }
    }
    let alpha: Float = 0.5, beta: Float = -2, padding: Float = 12345
    for (m, n, k) in [(13, 17, 19), (71, 123, 131)] {
        let a = values(m * k, seed: 1), b = values(k * n, seed: 2), c0 = values(m * n, seed: 3)  // (m, k), (k, n), (m, n)
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for p in 0..<k {
                let aip = a[i * k + p]
                for j in 0..<n { expected[i * n + j] += aip * b[p * n + j] }
            }
            for j in 0..<n { expected[i * n + j] = alpha * expected[i * n + j] + beta * c0[i * n + j] }
        }
        let at = transposed(a, rows: m, columns: k), bt = transposed(b, rows: k, columns: n)
        let ldc = n + 1
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                var c = [Float](repeating: padding, count: m * ldc)
                for i in 0..<m { for j in 0..<n { c[i * ldc + j] = c0[i * n + j] } }
                sgemm(Int32(MBC_CBLAS_ROW_MAJOR), Int32(transposeA ? MBC_CBLAS_TRANS : MBC_CBLAS_NO_TRANS),
                      Int32(transposeB ? MBC_CBLAS_TRANS : MBC_CBLAS_NO_TRANS), Int32(m), Int32(n), Int32(k),
                      alpha, transposeA ? at : a, Int32(transposeA ? m : k), transposeB ? bt : b, Int32(transposeB ? k : n),
                      beta, &c, Int32(ldc))
                for i in 0..<m {
                    for j in 0..<ldc where c[i * ldc + j] != (j < n ? expected[i * n + j] : padding) { return false }
                }
            }
        }
    }
    return true
}

/// OpenBLAS as this process runs it: loaded once, at the first BLAS call or `OpenBLAS.load()`,
/// with the kernels `chooseBLASCore` picks for this CPU (the user's `OPENBLAS_CORETYPE` first).
/// Programs call `load()` before anything else, MPI included, so that a failure is a sentence and
/// the variable is set while the process has one thread.
public enum OpenBLAS {
    /// Loads OpenBLAS if it is not yet loaded; the kernels it runs and who chose them.
    @discardableResult
    public static func load() throws -> BLASChoice { try loaded.get().choice }

    /// What `load()` returns, or why OpenBLAS could not be loaded.
    public static var summary: String {
        switch loaded {
        case .success(let blas): return blas.choice.summary
        case .failure(let error): return "not loaded (\(error))"
        }
    }

    static var library: OpenBLASLibrary {
        switch loaded {
        case .success(let blas): return blas.library
        case .failure(let error): fatalError("\(error)")
        }
    }
}

private let loaded = Result<(library: OpenBLASLibrary, choice: BLASChoice), Error> {
    let user = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
    return try chooseBLASCore(userCore: user?.isEmpty == false ? user : nil, cpu: .current,
                              load: OpenBLASLibrary.open(core:), check: { $0.passesStartUpCheck() })
}
