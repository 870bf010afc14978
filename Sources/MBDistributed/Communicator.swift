import Foundation
import MBBase

/// What data-parallel training needs from a group of processes. A process started without
/// `mpirun` is a world of size 1 (`SingleProcess`); `makeWorldCommunicator()` picks the right one.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// In-place element-wise sum over all ranks (the gradient allreduce).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Starts an in-place element-wise sum over all ranks that goes on while the caller works;
    /// `buffer` must stay untouched until the returned sum is complete. Every rank starts the
    /// same sums, of the same lengths, in the same order. The result is bitwise the same as
    /// another call's on the same values and buffer length, whenever it is advanced or waited for.
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingSum
    /// In-place element-wise sum over all ranks of a few Doubles (eval counts, summed losses).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Copies `buffer` from `root` to every rank.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Every rank's `value`, indexed by rank, on every rank.
    func allgather(_ value: UInt64) throws -> [UInt64]
    /// Every rank's `text`, indexed by rank, on `root`; nil on the other ranks.
    func gather(_ text: String, root: Int) throws -> [String]?
    func barrier() throws
    /// Ends the world; call once, on every rank, after the last collective.
    func finalize() throws
    /// Ends every rank with exit code `code`: for a failure on one rank, which would otherwise
    /// leave the others waiting in a collective.
    func abort(code: Int32) -> Never
}

/// A sum started by `Communicator.startAllreduceSum`.
public protocol PendingSum: AnyObject {
    /// Moves the sum on as far as it can go without waiting; true once it is complete.
    func advance() throws -> Bool
    /// Waits until the sum is complete.
    func wait() throws
}

/// A sum that completed when it was started (worlds whose sums do not overlap with work).
final class CompletedSum: PendingSum {
    func advance() throws -> Bool { true }
    func wait() throws {}
}

extension Communicator {
    /// `root`'s `text` on every rank (the other ranks' `text` is ignored): its length, then its
    /// UTF-8 bytes.
    public func broadcast(_ text: String, root: Int) throws -> String {
        var length = UInt64(text.utf8.count)
        try withUnsafeMutableBytes(of: &length) { try broadcast($0, root: root) }
        var bytes = rank == root ? Array(text.utf8) : [UInt8](repeating: 0, count: Int(length))
        try bytes.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Throws unless `root` is a rank of a world of `worldSize`.
func checkRoot(_ root: Int, worldSize: Int) throws {
    guard (0..<worldSize).contains(root) else {
        throw DistributedError("root rank \(root) is outside the world of \(worldSize) ranks.")
    }
}

/// The world of one process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingSum { CompletedSum() }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func allgather(_ value: UInt64) throws -> [UInt64] { [value] }
    public func gather(_ text: String, root: Int) throws -> [String]? { [text] }
    public func barrier() throws {}
    public func finalize() throws {}
    public func abort(code: Int32) -> Never { exit(code) }
}

/// A failed collective or MPI call: the message names the call and carries MPI's own text.
public struct DistributedError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }

/// True when this process was started by an MPI launcher (`mpirun`/`mpiexec` set
/// `OMPI_COMM_WORLD_SIZE`; PMIx launchers such as `srun --mpi=pmix` set `PMIX_RANK`).
public func launchedByMPI(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
}

/// The communicator of this run: MPI when started by an MPI launcher, otherwise `SingleProcess`.
///
/// Why not always MPI, though Open MPI makes a plain start a singleton world of size 1 (checked
/// with Open MPI 4.1): MPI can be initialised once per process and never again after
/// `MPI_Finalize`, so a test process that builds many worlds could not use it; and a singleton
/// start sets up Open MPI's whole runtime for a world that sends no messages.
/// `SingleProcess` gives the same results with none of that.
public func makeWorldCommunicator(bucketBytes: Int = MPICommunicator.defaultBucketBytes) throws -> Communicator {
    launchedByMPI() ? try MPICommunicator(bucketBytes: bucketBytes) : SingleProcess()
}
