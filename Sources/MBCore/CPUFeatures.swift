import CSystem

/// The x86-64 CPU features that decide which OpenBLAS kernels mbc asks for (CPUID, read through
/// the compiler runtime; the AVX-512 ones count only when the OS saves the 512-bit registers).
/// Empty on other architectures.
public struct CPUFeatures: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let amd = CPUFeatures(rawValue: UInt32(MBC_CPU_AMD))
    public static let intel = CPUFeatures(rawValue: UInt32(MBC_CPU_INTEL))
    public static let avx2 = CPUFeatures(rawValue: UInt32(MBC_CPU_AVX2))
    public static let fma = CPUFeatures(rawValue: UInt32(MBC_CPU_FMA))
    public static let avx512f = CPUFeatures(rawValue: UInt32(MBC_CPU_AVX512F))
    public static let avx512bw = CPUFeatures(rawValue: UInt32(MBC_CPU_AVX512BW))
    public static let avx512dq = CPUFeatures(rawValue: UInt32(MBC_CPU_AVX512DQ))
    public static let avx512vl = CPUFeatures(rawValue: UInt32(MBC_CPU_AVX512VL))
    public static let avx512bf16 = CPUFeatures(rawValue: UInt32(MBC_CPU_AVX512BF16))
    /// AVX-VNNI, the VEX-encoded dot products (Intel Alder Lake / Sapphire Rapids, AMD Zen 5 and later).
    public static let avxVNNI = CPUFeatures(rawValue: UInt32(MBC_CPU_AVXVNNI))

    /// AVX2 with FMA: what OpenBLAS's Haswell and Zen kernels use.
    public static let avx2FMA: CPUFeatures = [.avx2, .fma]
    /// The AVX-512 subsets of Skylake-SP, which OpenBLAS's SkylakeX kernels use.
    public static let avx512: CPUFeatures = [.avx2, .fma, .avx512f, .avx512bw, .avx512dq, .avx512vl]

    /// This process's CPU.
    public static let current = CPUFeatures(rawValue: UInt32(mbc_cpu_features()))

    private static let names: [(CPUFeatures, String)] = [
        (.amd, "amd"), (.intel, "intel"), (.avx2, "avx2"), (.fma, "fma"), (.avx512f, "avx512f"),
        (.avx512bw, "avx512bw"), (.avx512dq, "avx512dq"), (.avx512vl, "avx512vl"),
        (.avx512bf16, "avx512_bf16"), (.avxVNNI, "avx_vnni"),
    ]

    /// The features as /proc/cpuinfo spells them (vendor first), e.g. `amd avx2 fma`.
    public var description: String { Self.names.filter { contains($0.0) }.map(\.1).joined(separator: " ") }
}
