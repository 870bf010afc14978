/// FNV-1a over the 32-bit patterns of `values`: cheap (one xor and one multiply per element),
/// deterministic, and sensitive to order and to any changed bit, so equal checksums on every rank
/// mean (with overwhelming odds) bitwise-equal parameters.
public func checksum(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for v in values {
        hash = (hash ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01b3
    }
    return hash
}

/// Compares `localChecksum` across the world (one allgather; every rank gets the same answer) and
/// returns the ranks whose value differs from rank 0's: empty when all replicas agree.
public func ranksDiffering(fromRoot localChecksum: UInt64, in world: Communicator) throws -> [Int] {
    let all = try world.allgather(localChecksum)
    return all.indices.filter { all[$0] != all[0] }
}
