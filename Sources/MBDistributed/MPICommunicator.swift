import CMPI
import Foundation

/// `Communicator` over Open MPI's `MPI_COMM_WORLD`. Collectives are blocking; a large buffer is
/// reduced in place in buckets of `bucketBytes` (a few MB move fastest between two ranks;
/// `mbc-train env --bandwidth` times several bucket sizes). Every MPI call's return code is checked and a failure throws `DistributedError`:
/// the world is switched to `MPI_ERRORS_RETURN` so errors return instead of aborting.
/// MPI can be initialised once per process: create one instance, call `finalize()` at the end.
public final class MPICommunicator: Communicator {
    public static let defaultBucketBytes = 4 << 20

    public let rank: Int
    public let size: Int
    /// The largest piece of a buffer one collective call moves (at least 8).
    public var bucketBytes: Int
    private var finalized = false
    /// A copy of the world for the ring sums' messages, apart from everything else.
    private var ringCommunicator: MPI_Comm?
    private var ringSums = 0
    private let scratch = ScratchPool()

    public init(bucketBytes: Int = MPICommunicator.defaultBucketBytes) throws {
        guard bucketBytes >= 8 else {
            throw DistributedError("allreduce bucket of \(bucketBytes) bytes is too small; use a few MB (default \(Self.defaultBucketBytes)).")
        }
        self.bucketBytes = bucketBytes
        var initialized: Int32 = 0
        try check(MPI_Initialized(&initialized), "MPI_Initialized")
        guard initialized == 0 else {
            throw DistributedError("MPI is already initialised in this process; create one MPICommunicator per process and share it.")
        }
        // Only the main thread calls MPI (a data loader thread never does): FUNNELED is enough.
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, mbc_thread_funneled(), &provided), "MPI_Init_thread")
        try check(MPI_Comm_set_errhandler(mbc_comm_world(), mbc_errors_return()), "MPI_Comm_set_errhandler")
        guard provided >= mbc_thread_funneled() else {
            throw DistributedError("this MPI library gives thread level \(provided), below MPI_THREAD_FUNNELED; use an MPI built with thread support.")
        }
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_rank(mbc_comm_world(), &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(mbc_comm_world(), &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
        var copy: MPI_Comm?
        try check(MPI_Comm_dup(mbc_comm_world(), &copy), "MPI_Comm_dup")
        ringCommunicator = copy
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        try forEachBucket(count: buffer.count, elementSize: MemoryLayout<Float>.stride) { offset, n in
            try check(MPI_Allreduce(mbc_in_place(), base + offset, n, mbc_float(), mbc_op_sum(), mbc_comm_world()),
                      "MPI_Allreduce of \(n) floats")
        }
    }

    /// The ring algorithm (`RingSum`), advanced by the caller: its summation order is fixed,
    /// unlike `MPI_Iallreduce`'s, whose algorithm Open MPI picks by size.
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingSum {
        guard size > 1, !buffer.isEmpty else { return CompletedSum() }
        defer { ringSums += 1 }
        return try RingSum(buffer, communicator: ringCommunicator, rank: rank, size: size, tag: Int32(ringSums % 32768),
                           pool: scratch)
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard let base = buffer.baseAddress else { return }
        try forEachBucket(count: buffer.count, elementSize: MemoryLayout<Double>.stride) { offset, n in
            try check(MPI_Allreduce(mbc_in_place(), base + offset, n, mbc_double(), mbc_op_sum(), mbc_comm_world()),
                      "MPI_Allreduce of \(n) doubles")
        }
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard let base = buffer.baseAddress else { return }
        try checkRoot(root, worldSize: size)
        try forEachBucket(count: buffer.count, elementSize: 1) { offset, n in
            try check(MPI_Bcast(base + offset, n, mbc_byte(), Int32(root), mbc_comm_world()),
                      "MPI_Bcast of \(n) bytes from rank \(root)")
        }
    }

    public func allgather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try check(MPI_Allgather(&mine, 1, mbc_uint64(), &all, 1, mbc_uint64(), mbc_comm_world()), "MPI_Allgather")
        return all
    }

    public func gather(_ text: String, root: Int) throws -> [String]? {
        try checkRoot(root, worldSize: size)
        let bytes = Array(text.utf8)
        guard bytes.count <= Int(Int32.max) else {
            throw DistributedError("gather: a text of \(bytes.count) bytes is too long for one MPI message.")
        }
        var length = Int32(bytes.count)
        var lengths = [Int32](repeating: 0, count: rank == root ? size : 0)
        try check(MPI_Gather(&length, 1, mbc_int(), &lengths, 1, mbc_int(), Int32(root), mbc_comm_world()),
                  "MPI_Gather of text lengths")
        var offsets = [Int32](repeating: 0, count: lengths.count)
        for i in offsets.indices.dropFirst() { offsets[i] = offsets[i - 1] + lengths[i - 1] }
        var received = [UInt8](repeating: 0, count: max(1, Int(lengths.reduce(0, +))))
        try bytes.withUnsafeBufferPointer { send in
            try check(MPI_Gatherv(send.baseAddress, length, mbc_byte(), &received, &lengths, &offsets, mbc_byte(),
                                  Int32(root), mbc_comm_world()), "MPI_Gatherv of texts")
        }
        guard rank == root else { return nil }
        return zip(offsets, lengths).map { offset, n in
            String(decoding: received[Int(offset)..<Int(offset + n)], as: UTF8.self)
        }
    }

    public func barrier() throws {
        try check(MPI_Barrier(mbc_comm_world()), "MPI_Barrier")
    }

    public func finalize() throws {
        guard !finalized else { return }
        finalized = true
        try check(MPI_Comm_free(&ringCommunicator), "MPI_Comm_free")
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(mbc_comm_world(), code)
        exit(code)
    }

    /// Calls `body(offset, n)` for consecutive pieces of at most `bucketBytes` covering `count` elements.
    private func forEachBucket(count: Int, elementSize: Int, _ body: (Int, Int32) throws -> Void) throws {
        let perBucket = min(max(1, bucketBytes / elementSize), Int(Int32.max))
        var offset = 0
        while offset < count {
            let n = min(perBucket, count - offset)
            try body(offset, Int32(n))
            offset += n
        }
    }
}

/// Throws `DistributedError` naming `call` unless `code` is MPI_SUCCESS.
func check(_ code: Int32, _ call: @autoclosure () -> String) throws {
    guard code != mbc_success() else { return }
    var text = [CChar](repeating: 0, count: Int(mbc_max_error_string()) + 1)
    var length: Int32 = 0
    let described = MPI_Error_string(code, &text, &length) == mbc_success()
    let reason = described ? String(cString: text) : "MPI error code \(code)"
    throw DistributedError("\(call()) failed: \(reason).")
}
