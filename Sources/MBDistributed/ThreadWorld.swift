import Foundation

/// A world of `size` ranks inside one process, each rank on its own thread, whose collectives
/// meet in shared memory: code written for MPI ranks runs, and can be tested, without `mpirun`.
/// Sums add the ranks' values in rank order.
///
/// A collective that cannot complete fails with a `DistributedError` instead of hanging: when the
/// ranks call different collectives, when a rank's work has already ended, and after
/// `abort(code:)`, which fails every rank's pending and later collectives with one error (the
/// aborting rank's thread ends there) instead of ending the process.
public final class ThreadWorld {
    public let size: Int

    public init(size: Int) {
        precondition(size >= 1, "a world has at least one rank")
        self.size = size
    }

    /// Runs `work` once per rank, each on its own thread with that rank's communicator, and
    /// returns what each rank returned or threw, indexed by rank. A rank that aborts has the
    /// abort's error as its result. Each call is a fresh world.
    public func run<T>(_ work: @escaping (Communicator) throws -> T) -> [Result<T, Error>] {
        let meeting = Meeting(size: size)
        let results = RankResults<T>(size: size)
        let finished = DispatchGroup()
        for rank in 0..<size {
            finished.enter()
            let end: (Result<T, Error>) -> Void = { result in
                results.set(rank, result)
                meeting.leave(rank: rank)
                finished.leave()
            }
            let communicator = ThreadCommunicator(rank: rank, meeting: meeting, abortEnds: { end(.failure($0)) })
            let thread = Thread { end(Result { try work(communicator) }) }
            thread.name = "mbc-rank-\(rank)"
            thread.start()
        }
        finished.wait()
        return results.all
    }
}

/// One rank of a `ThreadWorld`.
final class ThreadCommunicator: Communicator, @unchecked Sendable {
    let rank: Int
    private let meeting: Meeting
    /// Records the aborting rank's result and lets the world finish without it.
    private let abortEnds: (DistributedError) -> Void

    init(rank: Int, meeting: Meeting, abortEnds: @escaping (DistributedError) -> Void) {
        self.rank = rank
        self.meeting = meeting
        self.abortEnds = abortEnds
    }

    var size: Int { meeting.size }

    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        _ = try meeting.meet(rank: rank, .floatSum(buffer))
    }

    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        _ = try meeting.meet(rank: rank, .doubleSum(buffer))
    }

    /// Sums at once, in rank order: the ranks meet when each starts the sum.
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingSum {
        try allreduceSum(buffer)
        return CompletedSum()
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try checkRoot(root, worldSize: size)
        _ = try meeting.meet(rank: rank, .broadcast(buffer, root: root))
    }

    func allgather(_ value: UInt64) throws -> [UInt64] {
        guard case .words(let all) = try meeting.meet(rank: rank, .allgather(value)) else { preconditionFailure("allgather gives words") }
        return all
    }

    func gather(_ text: String, root: Int) throws -> [String]? {
        try checkRoot(root, worldSize: size)
        guard case .texts(let all) = try meeting.meet(rank: rank, .gather(text, root: root)) else { preconditionFailure("gather gives texts") }
        return rank == root ? all : nil
    }

    func barrier() throws {
        _ = try meeting.meet(rank: rank, .barrier)
    }

    /// Nothing to release: the world ends with `ThreadWorld.run`.
    func finalize() throws {}

    /// Fails every rank's pending and later collectives, then ends this rank's thread.
    func abort(code: Int32) -> Never {
        abortEnds(meeting.abort(rank: rank, code: code))
        pthread_exit(nil)
    }
}

/// What one rank brings to a collective.
enum Contribution {
    case floatSum(UnsafeMutableBufferPointer<Float>)
    case doubleSum(UnsafeMutableBufferPointer<Double>)
    case broadcast(UnsafeMutableRawBufferPointer, root: Int)
    case allgather(UInt64)
    case gather(String, root: Int)
    case barrier

    /// The call as an error names it; every rank must make the same one.
    var call: String {
        switch self {
        case .floatSum(let b): return "allreduceSum of \(b.count) floats"
        case .doubleSum(let b): return "allreduceSum of \(b.count) doubles"
        case .broadcast(let b, let root): return "broadcast of \(b.count) bytes from rank \(root)"
        case .allgather: return "allgather"
        case .gather(_, let root): return "gather to rank \(root)"
        case .barrier: return "barrier"
        }
    }

    var floats: UnsafeMutableBufferPointer<Float>? { if case .floatSum(let b) = self { return b } else { return nil } }
    var doubles: UnsafeMutableBufferPointer<Double>? { if case .doubleSum(let b) = self { return b } else { return nil } }
    var bytes: UnsafeMutableRawBufferPointer? { if case .broadcast(let b, _) = self { return b } else { return nil } }
    var word: UInt64? { if case .allgather(let w) = self { return w } else { return nil } }
    var text: String? { if case .gather(let t, _) = self { return t } else { return nil } }
}

/// What a collective gives back beyond the buffers it wrote.
enum Outcome {
    case done
    case words([UInt64])
    case texts([String])
}

/// Where the ranks' collectives meet: each rank leaves its contribution, the last to arrive
/// carries out the collective for all (every other rank is blocked, so their buffers are safe to
/// read and write), and each rank takes the outcome before the next collective may begin.
final class Meeting: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var contributions: [Contribution?]
    private var arrived = 0
    private var departed = 0
    /// Set by the last arrival; cleared once every rank has taken it.
    private var outcome: Result<Outcome, DistributedError>?
    /// Set for good by an abort or by a collective that can never complete.
    private var failure: DistributedError?
    private var ended: [Int] = []

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: nil, count: size)
    }

    func meet(rank: Int, _ contribution: Contribution) throws -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        while outcome != nil && failure == nil { condition.wait() }   // the previous collective is still being taken
        if let failure { throw failure }
        if let gone = ended.first {
            throw fail(DistributedError("rank \(gone) has ended its work, so rank \(rank)'s \(contribution.call) can never complete."))
        }
        contributions[rank] = contribution
        arrived += 1
        if arrived == size {
            outcome = carryOut(contributions.map { $0! })
            condition.broadcast()
        }
        while outcome == nil && failure == nil { condition.wait() }
        guard let taken = outcome else { throw failure! }
        departed += 1
        if departed == size {
            contributions = Array(repeating: nil, count: size)
            arrived = 0
            departed = 0
            outcome = nil
            condition.broadcast()
        }
        return try taken.get()
    }

    /// Fails every pending and later collective; returns the error every rank sees.
    func abort(rank: Int, code: Int32) -> DistributedError {
        condition.lock()
        defer { condition.unlock() }
        return fail(DistributedError("rank \(rank) aborted the world with exit code \(code)."))
    }

    /// A rank's work ended: a collective that waits for it fails.
    func leave(rank: Int) {
        condition.lock()
        defer { condition.unlock() }
        ended.append(rank)
        if arrived > 0 && outcome == nil && failure == nil, let pending = contributions.compactMap({ $0 }).first {
            _ = fail(DistributedError("rank \(rank) has ended its work while other ranks wait in \(pending.call)."))
        }
    }

    /// The first failure stays; the lock is held.
    private func fail(_ error: DistributedError) -> DistributedError {
        if failure == nil { failure = error }
        condition.broadcast()
        return failure!
    }

    private func carryOut(_ all: [Contribution]) -> Result<Outcome, DistributedError> {
        let calls = all.map(\.call)
        guard Set(calls).count == 1 else {
            let listed = calls.enumerated().map { "rank \($0.offset) \($0.element)" }.joined(separator: ", ")
            return .failure(DistributedError("the ranks called different collectives: \(listed)."))
        }
        switch all[0] {
        case .floatSum: sumInRankOrder(all.compactMap(\.floats))
        case .doubleSum: sumInRankOrder(all.compactMap(\.doubles))
        case .broadcast(_, let root):
            let buffers = all.compactMap(\.bytes)
            for (rank, buffer) in buffers.enumerated() where rank != root {
                buffer.copyMemory(from: UnsafeRawBufferPointer(buffers[root]))
            }
        case .allgather: return .success(.words(all.compactMap(\.word)))
        case .gather: return .success(.texts(all.compactMap(\.text)))
        case .barrier: break
        }
        return .success(.done)
    }
}

/// Element i of every buffer becomes buffers[0][i] + buffers[1][i] + … (added in that order).
private func sumInRankOrder<T: FloatingPoint>(_ buffers: [UnsafeMutableBufferPointer<T>]) {
    for i in 0..<buffers[0].count {
        var total = buffers[0][i]
        for buffer in buffers.dropFirst() { total += buffer[i] }
        for buffer in buffers { buffer[i] = total }
    }
}

/// Each rank's result, written from its own thread.
private final class RankResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<T, Error>?]

    init(size: Int) { results = Array(repeating: nil, count: size) }

    func set(_ rank: Int, _ result: Result<T, Error>) {
        lock.lock()
        defer { lock.unlock() }
        results[rank] = result
    }

    var all: [Result<T, Error>] {
        lock.lock()
        defer { lock.unlock() }
        return results.map { $0! }
    }
}
