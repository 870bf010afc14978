/// A heap block of Float32 owned by one object, reused across steps: `ensure(count:)` grows it only
/// when a larger batch arrives, so a warm training step allocates nothing.
public final class Buffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var count: Int

    public init(count: Int = 0) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// Makes room for `count` floats; contents are undefined after a growth.
    public func ensure(count newCount: Int) {
        if newCount > count {
            pointer.deallocate()
            pointer = .allocate(capacity: newCount)
            pointer.initialize(repeating: 0, count: newCount)
        }
        count = max(count, newCount)
    }

    public func zero(count n: Int? = nil) {
        pointer.update(repeating: 0, count: n ?? count)
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
    public func array(count n: Int? = nil) -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: n ?? count)) }
}
