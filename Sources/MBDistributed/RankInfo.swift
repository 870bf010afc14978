import CSystem
import Glibc
import MBCore

/// Where one rank runs: what rank 0 prints at start so a user can see the placement.
public struct RankInfo: Equatable {
    public var host: String
    /// The CPUs this process may run on, as ranges, e.g. `0-3,8`.
    public var cpuSet: String
    public var blasThreads: Int
    /// The OpenBLAS kernels in use and who chose them (`BLASChoice.summary`).
    public var blasCore: String
    /// The sign lookup-table build the binary products use and who chose it (`SignTableKernels.inUse`).
    public var signTables: String

    public init(host: String, cpuSet: String, blasThreads: Int, blasCore: String, signTables: String) {
        self.host = host
        self.cpuSet = cpuSet
        self.blasThreads = blasThreads
        self.blasCore = blasCore
        self.signTables = signTables
    }

    /// This process's host name, CPU affinity set (`sched_getaffinity`), OpenBLAS thread count and
    /// kernels, and whether its CPU runs the sign lookup tables (the check `MBCore.WeightMatrix` makes).
    public static func current() -> RankInfo {
        RankInfo(host: hostName(), cpuSet: cpuAffinity(), blasThreads: BLASThreads.count, blasCore: OpenBLAS.summary,
                 signTables: SignTableKernels.inUse.summary)
    }

    /// One line, as sent to rank 0 and printed there.
    public var line: String {
        "host \(host), cpus \(cpuSet), blas threads \(blasThreads), blas kernels \(blasCore), sign tables \(signTables)"
    }
}

/// The host name, or `unknown` when the system cannot say.
public func hostName() -> String {
    var name = [CChar](repeating: 0, count: 256)
    guard gethostname(&name, name.count - 1) == 0 else { return "unknown" }
    return String(cString: name)
}

/// The CPUs this process may run on (`sched_getaffinity`) as ranges, e.g. `0-3,8`; `unknown` if
/// the call fails.
public func cpuAffinity() -> String {
    var mask = [UInt8](repeating: 0, count: 128)  // room for 1024 CPUs
    guard mbc_sched_getaffinity(&mask, mask.count) == 0 else { return "unknown" }
    let cpus = (0..<mask.count * 8).filter { mask[$0 / 8] & (1 << ($0 % 8)) != 0 }
    return cpuRanges(cpus)
}

/// Sorted CPU numbers as ranges: [0, 1, 2, 5] -> `0-2,5`.
func cpuRanges(_ cpus: [Int]) -> String {
    var parts: [String] = []
    var i = 0
    while i < cpus.count {
        var j = i
        while j + 1 < cpus.count && cpus[j + 1] == cpus[j] + 1 { j += 1 }
        parts.append(i == j ? "\(cpus[i])" : "\(cpus[i])-\(cpus[j])")
        i = j + 1
    }
    return parts.joined(separator: ",")
}
