/// Where a named tensor lives inside a `TensorStore`'s flat buffers.
public struct TensorRef: Hashable, Sendable {
    public let index: Int
    public let offset: Int
    public let count: Int
}

/// How a parameter is stored when deployed, and which layer kind it belongs to (for the summary,
/// weight-decay scopes and checkpoints).
public struct TensorInfo: Sendable {
    public let name: String
    public let shape: [Int]
    /// The layer kind, e.g. "stem", "block 1x1", "modulated 3x3", "M-filter", "BatchNorm".
    public let group: String
    /// True when the forward pass uses only the sign of this tensor (1 bit per weight deployed).
    public let binary: Bool
    /// True for convolution weights (the scope of `weight_decay_scope: conv`).
    public let isConvWeight: Bool
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// Named tensors in one contiguous Float32 buffer, with an optional parallel gradient buffer.
/// Declare every tensor first, then `allocate()`: allreduce, broadcast, the SGD step and a
/// checkpoint are then each one loop over `values`/`gradients`.
public final class TensorStore {
    public private(set) var infos: [TensorInfo] = []
    public private(set) var count = 0
    public let values = Buffer()
    public let gradients: Buffer?
    public private(set) var isAllocated = false

    public init(withGradients: Bool) {
        gradients = withGradients ? Buffer() : nil
    }

    public func declare(_ name: String, shape: [Int], group: String, binary: Bool = false,
                        isConvWeight: Bool = false) -> TensorRef {
        precondition(!isAllocated, "declare every tensor before allocate()")
        precondition(!infos.contains { $0.name == name }, "duplicate tensor name \(name)")
        let info = TensorInfo(name: name, shape: shape, group: group, binary: binary,
                              isConvWeight: isConvWeight, offset: count)
        infos.append(info)
        count += info.count
        return TensorRef(index: infos.count - 1, offset: info.offset, count: info.count)
    }

    public func allocate() {
        precondition(!isAllocated)
        values.ensure(count: count)
        gradients?.ensure(count: count)
        isAllocated = true
    }

    @inline(__always) public func value(_ t: TensorRef) -> UnsafeMutablePointer<Float> { values.pointer + t.offset }
    @inline(__always) public func gradient(_ t: TensorRef) -> UnsafeMutablePointer<Float> { gradients!.pointer + t.offset }

    public func ref(named name: String) -> TensorRef? {
        guard let i = infos.firstIndex(where: { $0.name == name }) else { return nil }
        return TensorRef(index: i, offset: infos[i].offset, count: infos[i].count)
    }

    public func zeroGradients() { gradients?.zero(count: count) }
}
