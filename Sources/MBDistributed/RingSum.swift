import CMPI

/// An in-place sum over the ranks of a communicator by the ring algorithm, moved on by
/// `advance()` (non-blocking sends and receives) so it can run while backward computes.
///
/// The buffer is cut into one chunk per rank. Reduce-scatter: in step s (0 ..< H−1) rank r sends
/// chunk (r − s) mod H to rank r + 1 and adds chunk (r − s − 1) mod H from rank r − 1 into its
/// own, so after H − 1 steps rank r holds the whole sum of chunk (r + 1) mod H. Allgather: in step
/// s rank r passes chunk (r + 1 − s) mod H on and receives chunk (r − s) mod H in place. Each
/// rank sends 2·(H−1)/H of the buffer and receives as much: what the ring model of
/// docs/SCALING.md counts.
///
/// Chunk c is summed in the fixed order x_c + x_(c+1) + … around the ring, whatever the
/// transport, timing or MPI library's own collective tuning: so two runs that differ only in when
/// sums are advanced (overlapped with backward or not), or in the network between the ranks,
/// give bitwise equal results.
final class RingSum: PendingSum {
    private let buffer: UnsafeMutableBufferPointer<Float>
    private let communicator: MPI_Comm?
    private let rank: Int
    private let size: Int
    private let tag: Int32
    private let pool: ScratchPool
    private let scratch: UnsafeMutableBufferPointer<Float>
    private var requests: [MPI_Request?]
    private var step = 0
    /// The chunk the current step receives.
    private var receiving = 0

    /// Posts the first step's messages, on a world of at least 2 ranks. `tag` tells concurrent
    /// sums apart.
    init(_ buffer: UnsafeMutableBufferPointer<Float>, communicator: MPI_Comm?, rank: Int, size: Int, tag: Int32,
         pool: ScratchPool) throws {
        precondition(size > 1, "a ring sum needs at least 2 ranks")
        guard (buffer.count + size - 1) / size <= Int(Int32.max) else {
            throw DistributedError("a ring allreduce of \(buffer.count) floats over \(size) ranks has chunks too long for one MPI message; use smaller allreduce buckets.")
        }
        self.buffer = buffer
        self.communicator = communicator
        self.rank = rank
        self.size = size
        self.tag = tag
        self.pool = pool
        scratch = pool.take(count: (buffer.count + size - 1) / size)
        requests = [mbc_request_null(), mbc_request_null()]
        try post()
    }

    deinit { pool.give(scratch) }

    private var steps: Int { 2 * (size - 1) }

    private func chunk(_ c: Int) -> Range<Int> {
        let index = ((c % size) + size) % size
        return buffer.count * index / size ..< buffer.count * (index + 1) / size
    }

    func advance() throws -> Bool {
        while step < steps {
            var done: Int32 = 0
            try check(MPI_Testall(2, &requests, &done, mbc_statuses_ignore()), "MPI_Testall (ring allreduce)")
            guard done != 0 else { return false }
            try finishStep()
        }
        return true
    }

    func wait() throws {
        while step < steps {
            try check(MPI_Waitall(2, &requests, mbc_statuses_ignore()), "MPI_Waitall (ring allreduce)")
            try finishStep()
        }
    }

    /// After the current step's messages have arrived: adds a received partial sum in, then posts
    /// the next step.
    private func finishStep() throws {
        if step < size - 1 {
            let target = chunk(receiving)
            let into = buffer.baseAddress! + target.lowerBound
            for i in 0..<target.count { into[i] += scratch[i] }
        }
        step += 1
        if step < steps { try post() }
    }

    private func post() throws {
        let reducing = step < size - 1
        let s = reducing ? step : step - (size - 1)
        let sent = chunk(reducing ? rank - s : rank + 1 - s)
        receiving = reducing ? rank - s - 1 : rank - s
        let received = chunk(receiving)
        let left = Int32((rank + size - 1) % size), right = Int32((rank + 1) % size)
        let into = reducing ? scratch.baseAddress! : buffer.baseAddress! + received.lowerBound
        try check(MPI_Irecv(into, Int32(received.count), mbc_float(), left, tag, communicator, &requests[0]),
                  "MPI_Irecv of \(received.count) floats from rank \(left) (ring allreduce)")
        try check(MPI_Isend(buffer.baseAddress! + sent.lowerBound, Int32(sent.count), mbc_float(), right, tag, communicator,
                            &requests[1]), "MPI_Isend of \(sent.count) floats to rank \(right) (ring allreduce)")
    }
}

/// Receive buffers for ring sums, kept for the next ones: fresh pages for every bucket of every
/// step cost page faults (measured: about half the time of a ring sum between two ranks of one
/// host). Used from one thread.
final class ScratchPool {
    private var free: [UnsafeMutableBufferPointer<Float>] = []

    /// A buffer of at least `count` floats.
    func take(count: Int) -> UnsafeMutableBufferPointer<Float> {
        if let i = free.firstIndex(where: { $0.count >= count }) { return free.remove(at: i) }
        return .allocate(capacity: max(1, count))
    }

    func give(_ buffer: UnsafeMutableBufferPointer<Float>) { free.append(buffer) }

    deinit { for buffer in free { buffer.deallocate() } }
}
