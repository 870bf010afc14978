/// Set from `mbc-train`'s SIGINT/SIGTERM handlers (a signal handler can only reach a global).
nonisolated(unsafe) public var stopRequested: Int32 = 0

/// Where a trainer reads stop requests. Each rank reads its own; the ranks agree on them at the
/// next step boundary, so a request on any one rank stops every rank at the same step.
public protocol StopSignal {
    var isRaised: Bool { get }
}

/// SIGINT and SIGTERM, through `stopRequested`: every trainer's default.
public struct InterruptSignals: StopSignal {
    public init() {}
    public var isRaised: Bool { stopRequested != 0 }
}
