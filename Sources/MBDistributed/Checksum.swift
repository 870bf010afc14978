import MBBase

/// FNV-1a over the 32-bit patterns of `values`, one unit per element: cheap (one xor and one
/// multiply per element) and sensitive to order and to any changed bit, so equal checksums on
/// every rank mean (with overwhelming odds) bitwise-equal parameters.
public func checksum(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
    var hash = FNV1a()
    for v in values { hash.add(UInt64(v.bitPattern)) }
    return hash.value
}

/// Compares `localChecksum` across the world (one allgather; every rank gets the same answer) and
/// returns the ranks whose value differs from rank 0's: empty when all replicas agree.
public func ranksDiffering(fromRoot localChecksum: UInt64, in world: Communicator) throws -> [Int] {
    let all = try world.allgather(localChecksum)
    return all.indices.filter { all[$0] != all[0] }
}
