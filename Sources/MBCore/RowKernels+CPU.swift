import CSystem
import MBRowKernels
import MBRowKernelsAVX2
import MBRowKernelsAVX512

extension RowKernels {
    /// The widest build of the row loops this CPU runs (the same CPU checks as the sign tables).
    public static let forThisCPU: RowKernels = runnable[0]

    /// Every build this CPU runs, widest first (the tests compare them).
    public static let runnable: [RowKernels] =
        (mbc_cpu_runs_x86_64_v4_code() != 0 ? [avx512RowKernels] : []) + (mbc_cpu_runs_haswell_code() != 0 ? [avx2RowKernels] : []) + [.portable]
}
