import COpenBLAS
import Foundation
@testable import MBCore
import MBTestSupport
import XCTest

/// The choice of OpenBLAS kernels: CPU features, the mapping, the start-up check of sgemm, the
/// fallback when a kernel set fails it, and the numerics tests rerun under every kernel set the
/// mapping can pick on this CPU.
final class OpenBLASTests: XCTestCase, CommandRunning {
    func testCPUFeaturesAgreeWithProcCpuinfo() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(separator: "\n")
        let flags = Set(cpuinfo.first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        let vendor = cpuinfo.first { $0.hasPrefix("vendor_id") }?.split(separator: " ").last.map(String.init)
        var expected: CPUFeatures = []
        if vendor == "AuthenticAMD" { expected.insert(.amd) }
        if vendor == "GenuineIntel" { expected.insert(.intel) }
        let named: [(String, CPUFeatures)] = [
            ("avx2", .avx2), ("fma", .fma), ("avx512f", .avx512f), ("avx512bw", .avx512bw), ("avx512dq", .avx512dq),
            ("avx512vl", .avx512vl), ("avx512_bf16", .avx512bf16), ("avx_vnni", .avxVNNI),
        ]
        for (flag, feature) in named where flags.contains(flag) { expected.insert(feature) }
        XCTAssertEqual(CPUFeatures.current, expected, "CPUID says \(CPUFeatures.current), /proc/cpuinfo \(expected)")
    }

    func testKernelSetsFollowTheCPUFeatures() {
        let avx512: CPUFeatures = CPUFeatures.avx512.union(.avx512bf16)
        XCTAssertEqual(BLASCore.preferred(for: avx512.union([.intel, .avxVNNI])), [.skylakeX, .haswell])  // Sapphire/Emerald Rapids
        XCTAssertEqual(BLASCore.preferred(for: CPUFeatures.avx512.union(.intel)), [.skylakeX, .haswell])  // Skylake-SP
        XCTAssertEqual(BLASCore.preferred(for: CPUFeatures.avx2FMA.union(.intel)), [.haswell])
        XCTAssertEqual(BLASCore.preferred(for: avx512.union([.amd, .avxVNNI])), [.skylakeX, .zen])  // Zen 5
        XCTAssertEqual(BLASCore.preferred(for: avx512.union(.amd)), [.zen, .skylakeX])  // Zen 4
        XCTAssertEqual(BLASCore.preferred(for: CPUFeatures.avx2FMA.union(.amd)), [.zen])  // Zen 1-3
        XCTAssertEqual(BLASCore.preferred(for: [.amd, .avx2]), [])  // no FMA
        XCTAssertEqual(BLASCore.preferred(for: [.intel]), [])  // Nehalem: OpenBLAS's own choice
    }

    /// The check passes a correct sgemm (OpenBLAS's, and a plain loop's) and fails wrong ones.
    func testStartUpCheckPassesCorrectSgemmsAndFailsWrongOnes() throws {
        try OpenBLAS.load()
        XCTAssertTrue(sgemmPassesStartUpCheck(OpenBLAS.library.sgemm))
        XCTAssertTrue(sgemmPassesStartUpCheck { o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc in
            loopSgemm(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, flaw: nil)
        })
        XCTAssertFalse(sgemmPassesStartUpCheck { o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc in
            loopSgemm(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, flaw: .ignoresBeta)
        })
        XCTAssertFalse(sgemmPassesStartUpCheck { o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc in
            loopSgemm(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, flaw: .writesPastRows)
        })
        XCTAssertFalse(sgemmPassesStartUpCheck { o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc in
            loopSgemm(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, flaw: .dropsLastTermWhenLarge)
        })
        XCTAssertFalse(sgemmPassesStartUpCheck { o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc in
            loopSgemm(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, flaw: .ignoresAlpha)
        })
    }

    func testChoiceFallsBackPastRefusedAndMissingKernelSets() throws {
        let zen5 = CPUFeatures.avx512.union([.amd, .avx512bf16, .avxVNNI])
        let library = StandInLibraries(ownPick: "Cooperlake", missing: [])

        let first = try chooseBLASCore(userCore: nil, cpu: zen5, load: library.load, check: { _ in true })
        XCTAssertEqual(first.choice, BLASChoice(core: "SkylakeX", source: .mbc, notes: []))
        XCTAssertEqual(first.choice.summary, "SkylakeX (chosen by mbc)")

        let fallback = try chooseBLASCore(userCore: nil, cpu: zen5, load: library.load, check: { $0.coreName != "SkylakeX" })
        XCTAssertEqual(fallback.choice, BLASChoice(core: "Zen", source: .mbc, notes: ["SkylakeX refused: its sgemm failed the start-up check"]))
        XCTAssertEqual(fallback.choice.summary, "Zen (chosen by mbc; SkylakeX refused: its sgemm failed the start-up check)")

        // The user's choice wins, and is checked like any other.
        let user = try chooseBLASCore(userCore: "haswell", cpu: zen5, load: library.load, check: { _ in true })
        XCTAssertEqual(user.choice, BLASChoice(core: "Haswell", source: .environment, notes: []))
        let refusedUser = try chooseBLASCore(userCore: "Haswell", cpu: zen5, load: library.load, check: { $0.coreName != "Haswell" })
        XCTAssertEqual(refusedUser.choice.core, "SkylakeX")
        XCTAssertEqual(refusedUser.choice.notes, ["Haswell refused: its sgemm failed the start-up check"])

        // A user's kernels the CPU cannot run, and names this OpenBLAS does not have, are passed over.
        let zen2 = CPUFeatures.avx2FMA.union(.amd)
        let unrunnable = try chooseBLASCore(userCore: "SkylakeX", cpu: zen2, load: library.load, check: { _ in true })
        XCTAssertEqual(unrunnable.choice, BLASChoice(core: "Zen", source: .mbc,
                                                     notes: ["OPENBLAS_CORETYPE=SkylakeX ignored: this CPU lacks avx512f avx512bw avx512dq avx512vl"]))
        let older = StandInLibraries(ownPick: "Haswell", missing: ["skylakex"])
        let missing = try chooseBLASCore(userCore: "Bogus", cpu: zen5, load: older.load, check: { _ in true })
        XCTAssertEqual(missing.choice, BLASChoice(core: "Zen", source: .mbc, notes: [
            "OPENBLAS_CORETYPE=Bogus skipped: this OpenBLAS has no such kernels", "SkylakeX skipped: this OpenBLAS has no such kernels",
        ]))

        // No AVX2: OpenBLAS's own pick, which is checked too; when everything fails, a sentence.
        let own = try chooseBLASCore(userCore: nil, cpu: [.intel], load: library.load, check: { _ in true })
        XCTAssertEqual(own.choice, BLASChoice(core: "Cooperlake", source: .openblas, notes: []))
        XCTAssertThrowsError(try chooseBLASCore(userCore: nil, cpu: zen5, load: library.load, check: { _ in false })) { error in
            XCTAssertEqual("\(error)", "OpenBLAS computes wrong sgemm products on this CPU with every kernel set tried (SkylakeX, Zen, Cooperlake); "
                           + "set OPENBLAS_CORETYPE to one that works (e.g. Prescott, the generic x86-64 kernels).")
        }
        // Every library loaded and not chosen was unloaded.
        XCTAssertEqual(library.loaded - library.unloaded, 6, "one kept per successful choice")
        XCTAssertEqual(older.loaded - older.unloaded, 1)
    }

    /// The real library in a fresh process (run by the next test): the first kernel set is refused
    /// through the check, OpenBLAS is unloaded and loaded again with the next, which then runs.
    func testFreshProcessFallsBackWhenTheFirstKernelSetFailsTheCheck() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["MBC_TEST_FRESH_PROCESS"] == "1", "runs in a fresh process only")
        let preferred = BLASCore.preferred(for: .current)
        XCTAssertNil(dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD), "OpenBLAS was loaded before the test")
        let refused = try XCTUnwrap(preferred.first).name
        let (library, choice) = try chooseBLASCore(userCore: nil, cpu: .current, load: OpenBLASLibrary.open(core:),
                                                   check: { $0.coreName != refused && $0.passesStartUpCheck() })
        XCTAssertEqual(choice.notes, ["\(refused) refused: its sgemm failed the start-up check"])
        XCTAssertEqual(choice.core, preferred.count > 1 ? preferred[1].name : choice.core)
        XCTAssertNotEqual(choice.core, refused)
        XCTAssertEqual(choice.source, preferred.count > 1 ? .mbc : .openblas)
        XCTAssertTrue(library.passesStartUpCheck())
        // The one OpenBLAS now in the process (the refused one was unloaded) runs the kernels reported.
        let handle = try XCTUnwrap(dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD))
        defer { dlclose(handle) }
        let corename = unsafeBitCast(try XCTUnwrap(dlsym(handle, "openblas_get_corename")), to: mbc_get_corename_fn.self)
        XCTAssertEqual(corename().map { String(cString: $0) }, choice.core)
    }

    func testFallbackWithTheRealLibrary() throws {
        try XCTSkipIf(BLASCore.preferred(for: .current).isEmpty, "this CPU gets OpenBLAS's own kernels, with nothing to fall back from")
        let run = try rerunTestBinary(filter: "MBCoreTests.OpenBLASTests/testFreshProcessFallsBackWhenTheFirstKernelSetFailsTheCheck",
                                      environment: ["MBC_TEST_FRESH_PROCESS": "1", "OPENBLAS_CORETYPE": nil])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("Executed 1 test, with 0 failures"), run.output)
        XCTAssertFalse(run.output.contains("skipped"), run.output)
    }

    /// Without `OPENBLAS_CORETYPE` this process runs mbc's first choice; with it, the kernels named
    /// (when this CPU runs them). The reruns below rely on this to know what they ran.
    func testTheKernelsRunningAreTheOnesAskedFor() throws {
        let choice = try OpenBLAS.load()
        let preferred = BLASCore.preferred(for: .current)
        XCTAssertEqual(choice.notes, [], "a kernel set was passed over: \(choice.summary)")
        guard let user = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !user.isEmpty else {
            XCTAssertEqual(choice.core, preferred.first?.name ?? choice.core)
            XCTAssertEqual(choice.source, preferred.isEmpty ? .openblas : .mbc)
            return
        }
        let core = try XCTUnwrap(BLASCore.all.first { $0.name.lowercased() == user.lowercased() },
                                 "OPENBLAS_CORETYPE=\(user) is none of the kernel sets mbc picks")
        try XCTSkipUnless(CPUFeatures.current.isSuperset(of: core.needs), "this CPU cannot run \(user)")
        XCTAssertEqual(choice, BLASChoice(core: core.name, source: .environment, notes: []))
    }

    /// The GEMM, PyTorch-fixture and kill-and-resume tests under each kernel set the mapping can
    /// pick on this CPU (the one this process runs is covered by the rest of the suite).
    func testEveryKernelSetTheMappingCanPickPassesTheNumericsTests() throws {
        let running = try OpenBLAS.load().core
        let others = BLASCore.preferred(for: .current).filter { $0.name != running }
        try XCTSkipIf(others.isEmpty, "the mapping has no other kernel set for this CPU")
        let filter = ["MBCoreTests.OpenBLASTests/testTheKernelsRunningAreTheOnesAskedFor", "MBCoreTests.WeightMatrixTests",
                      "MBCoreTests.KernelGradientTests", "MBCliqueNetTests.ReferenceFixtureTests",
                      "mbc_trainTests.TrainCommandTests/testKilledAndResumedRunEndsBitwiseEqualToAnUninterruptedOne"]
        for core in others {
            let run = try rerunTestBinary(filter: filter.joined(separator: ","), environment: ["OPENBLAS_CORETYPE": core.name])
            XCTAssertEqual(run.status, 0, "\(core):\n\(run.output)")
            XCTAssertTrue(run.output.contains("Test Suite 'Selected tests' passed"), "\(core):\n\(run.output)")
            for test in ["testTheKernelsRunningAreTheOnesAskedFor", "testOpenBLASProductsEqualNaiveSums", "testBinarizedK2MatchesReference",
                         "testKilledAndResumedRunEndsBitwiseEqualToAnUninterruptedOne"] {
                XCTAssertTrue(run.output.contains(".\(test)' passed"), "\(core): \(test) did not pass:\n\(run.output)")
            }
            XCTAssertFalse(run.output.contains("skipped"), "\(core):\n\(run.output)")
        }
    }
}

/// Stand-ins for OpenBLAS loaded with one kernel set: `nil` loads `ownPick`, a name in `missing`
/// (lowercased) loads `ownPick` too, as OpenBLAS does with a name it does not have.
final class StandInLibraries {
    let ownPick: String
    let missing: Set<String>
    var loaded = 0, unloaded = 0

    struct Library: LoadedBLAS {
        let coreName: String
        let owner: StandInLibraries
        func unload() { owner.unloaded += 1 }
    }

    init(ownPick: String, missing: Set<String>) {
        self.ownPick = ownPick
        self.missing = missing
    }

    func load(_ core: String?) -> Library {
        loaded += 1
        let known = ["haswell": "Haswell", "zen": "Zen", "skylakex": "SkylakeX", "cooperlake": "Cooperlake"]
        guard let core, !missing.contains(core.lowercased()), let name = known[core.lowercased()] else {
            return Library(coreName: ownPick, owner: self)
        }
        return Library(coreName: name, owner: self)
    }
}

enum SgemmFlaw { case ignoresAlpha, ignoresBeta, writesPastRows, dropsLastTermWhenLarge }

/// Row-major sgemm as a plain loop (the check's stand-in sgemm), optionally with one flaw.
func loopSgemm(_ order: Int32, _ transposeA: Int32, _ transposeB: Int32, _ m: Int32, _ n: Int32, _ k: Int32,
               _ alpha: Float, _ a: UnsafePointer<Float>?, _ lda: Int32, _ b: UnsafePointer<Float>?, _ ldb: Int32,
               _ beta: Float, _ c: UnsafeMutablePointer<Float>?, _ ldc: Int32, flaw: SgemmFlaw?) {
    let (m, n, k, lda, ldb, ldc) = (Int(m), Int(n), Int(k), Int(lda), Int(ldb), Int(ldc))
    let ta = transposeA == Int32(MBC_CBLAS_TRANS)
    let tb = transposeB == Int32(MBC_CBLAS_TRANS)
    let terms = flaw == .dropsLastTermWhenLarge && k > 100 ? k - 1 : k
    for i in 0..<m {
        for j in 0..<n {
            var sum: Float = 0
            for p in 0..<terms { sum += (ta ? a![p * lda + i] : a![i * lda + p]) * (tb ? b![j * ldb + p] : b![p * ldb + j]) }
            c![i * ldc + j] = (flaw == .ignoresAlpha ? 1 : alpha) * sum + (flaw == .ignoresBeta ? 0 : beta * c![i * ldc + j])
        }
        if flaw == .writesPastRows && ldc > n { c![i * ldc + n] = 0 }
    }
}
