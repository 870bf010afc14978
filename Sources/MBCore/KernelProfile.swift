import Foundation

/// Wall time per kernel kind, accumulated while a profile is attached (benchmarks only; the
/// trainer runs without one).
public final class KernelProfile {
    public private(set) var seconds: [String: Double] = [:]

    public init() {}

    @inline(__always)
    public func measure<T>(_ kind: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        seconds[kind, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return result
    }

    public func reset() { seconds = [:] }
}
