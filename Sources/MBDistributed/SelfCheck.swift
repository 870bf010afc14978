/// Runs each collective on known data and returns what came out wrong on this rank (empty when
/// all is well). `floats` sets the size of the allreduce and broadcast buffers: make it span
/// several buckets so bucketing is exercised too. Every rank must call it.
public func checkCollectives(_ world: Communicator, floats: Int) throws -> [String] {
    var problems: [String] = []
    let ranks = world.size
    let rankSum = Float(ranks * (ranks + 1) / 2)

    // Float allreduce: rank r contributes (r + 1) * w_i with small integer weights, so sums are exact.
    var values = (0..<floats).map { Float(world.rank + 1) * Float($0 % 251 + 1) }
    try values.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
    if let i = values.indices.first(where: { values[$0] != rankSum * Float($0 % 251 + 1) }) {
        problems.append("float allreduce: element \(i) of \(floats) is \(values[i]), expected \(rankSum * Float(i % 251 + 1))")
    }

    // The same through the started (ring) sum, moved on by `advance()` before the wait, on a
    // length the ranks do not divide evenly.
    var started = (0..<floats + 1).map { Float(world.rank + 1) * Float($0 % 251 + 1) }
    try started.withUnsafeMutableBufferPointer { buffer in
        let sum = try world.startAllreduceSum(buffer)
        _ = try sum.advance()
        try sum.wait()
    }
    if let i = started.indices.first(where: { started[$0] != rankSum * Float($0 % 251 + 1) }) {
        problems.append("started float allreduce: element \(i) of \(floats + 1) is \(started[i]), expected \(rankSum * Float(i % 251 + 1))")
    }

    var pair: [Double] = [Double(world.rank + 1), 1]
    try pair.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
    if pair != [Double(rankSum), Double(ranks)] {
        problems.append("double allreduce: got \(pair), expected \([Double(rankSum), Double(ranks)])")
    }

    // Broadcast from the last rank, so a root other than 0 is exercised.
    let root = ranks - 1
    let pattern = (0..<floats * 4).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    var bytes = world.rank == root ? pattern : [UInt8](repeating: 0, count: pattern.count)
    try bytes.withUnsafeMutableBytes { try world.broadcast($0, root: root) }
    if let i = bytes.indices.first(where: { bytes[$0] != pattern[$0] }) {
        problems.append("broadcast from rank \(root): byte \(i) of \(bytes.count) is \(bytes[i]), expected \(pattern[i])")
    }

    let differing = try values.withUnsafeBufferPointer { try ranksDiffering(fromRoot: checksum($0), in: world) }
    if !differing.isEmpty {
        problems.append("checksum of the reduced buffer differs from rank 0's on ranks \(differing)")
    }
    return problems
}
