import Foundation

/// What one process may plan to hold in memory: 90 % of the machine's physical memory, shared
/// evenly by the ranks Open MPI placed on this host (`OMPI_COMM_WORLD_LOCAL_SIZE`, 1 without
/// mpirun). Sizes read from files and configs are compared against it before anything that large
/// is allocated.
public enum MemoryLimit {
    public static var physicalBytes: Double { Double(ProcessInfo.processInfo.physicalMemory) }

    public static var ranksOnHost: Int {
        max(1, Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1)
    }

    public static var bytesPerRank: Double { 0.9 * physicalBytes / Double(ranksOnHost) }

    /// How the limit was reached, for messages: "21.2 GB (90% of 23.5 GB physical memory, 1 rank on this host)".
    public static var explained: String {
        let ranks = ranksOnHost
        return "\(gigabytes(bytesPerRank)) (90% of \(gigabytes(physicalBytes)) physical memory, \(ranks) rank\(ranks == 1 ? "" : "s") on this host)"
    }

    /// `bytes` in decimal gigabytes with one decimal ("0.3 GB"), or megabytes below 0.1 GB.
    public static func gigabytes(_ bytes: Double) -> String {
        bytes < 1e8 ? String(format: "%.1f MB", bytes / 1e6) : String(format: "%.1f GB", bytes / 1e9)
    }
}
