import ArgumentParser
import Foundation
import MBDistributed

struct Env: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the MPI world: each rank's host, CPU set and BLAS threads, and the collectives.",
        discussion: "Run it the way you run training, e.g. `mpirun -np 2 --hostfile hosts mbc-train env`.")

    @Option(name: .long, help: "Allreduce bucket size in bytes (training uses 4 MiB).")
    var bucketBytes = MPICommunicator.defaultBucketBytes

    @Flag(name: .long, help: "Also time a 64 MiB float allreduce at bucket sizes 1, 4 and 16 MiB.")
    var bandwidth = false

    func run() throws {
        let world: Communicator
        do {
            world = try makeWorldCommunicator(bucketBytes: bucketBytes)
        } catch let e as DistributedError {
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
        let passed: Bool
        do {
            passed = try report(world)
            try world.finalize()
        } catch let e as DistributedError {
            FileHandle.standardError.write(Data("error: rank \(world.rank): \(e.message)\n".utf8))
            world.abort(code: 1)
        }
        if !passed { throw ExitCode(1) }
    }

    /// Gathers and (on rank 0) prints the report; false when a collective gave a wrong result.
    func report(_ world: Communicator) throws -> Bool {
        let places = try world.gather(RankInfo.current().line, root: 0)
        // Two full buckets and a ragged third: bucketing and the short last bucket are both exercised.
        let problems = try checkCollectives(world, floats: 2 * max(1, bucketBytes / 4) + 3)
        let reports = try world.gather(problems.joined(separator: "; "), root: 0)
        let speeds = bandwidth ? try measureAllreduce(world) : []
        guard let places, let reports else { return true }
        print("world: \(world.size) rank\(world.size == 1 ? "" : "s")\(world is MPICommunicator ? " (MPI)" : " (no MPI launcher: single process)")")
        for (rank, place) in places.enumerated() { print("rank \(rank): \(place)") }
        for line in speeds { print(line) }
        let failed = reports.enumerated().filter { !$0.element.isEmpty }
        if failed.isEmpty {
            print("collectives: ok")
        } else {
            print("collectives: FAILED")
            for (rank, text) in failed { print("rank \(rank): \(text)") }
        }
        return failed.isEmpty
    }

    /// Times a 64 MiB allreduce at a few bucket sizes, by Open MPI's `MPI_Allreduce` and by the
    /// ring sums training uses (every bucket started, then all waited for); the lines rank 0 prints.
    func measureAllreduce(_ world: Communicator) throws -> [String] {
        guard let mpi = world as? MPICommunicator else { return ["allreduce bandwidth: needs an MPI launcher"] }
        defer { mpi.bucketBytes = bucketBytes }
        var buffer = [Float](repeating: 1, count: 16 << 20)
        var lines: [String] = []
        for mib in [1, 4, 16] {
            mpi.bucketBytes = mib << 20
            let bucket = mib << 18   // floats
            let library = try gigabytesPerSecond(floats: buffer.count, world: mpi) {
                try buffer.withUnsafeMutableBufferPointer { try mpi.allreduceSum($0) }
            }
            let ring = try gigabytesPerSecond(floats: buffer.count, world: mpi) {
                try buffer.withUnsafeMutableBufferPointer { all in
                    let sums = try stride(from: 0, to: all.count, by: bucket).map { start in
                        try mpi.startAllreduceSum(UnsafeMutableBufferPointer(rebasing: all[start..<min(start + bucket, all.count)]))
                    }
                    for sum in sums { try sum.wait() }
                }
            }
            lines.append(String(format: "allreduce 64 MiB, %2d MiB buckets: %.2f GB/s MPI_Allreduce, %.2f GB/s ring (training's) (rank %d)",
                                mib, library, ring, world.rank))
        }
        return lines
    }

    /// Buffer bytes per second of `allreduce` on `floats` floats: one warm-up, then 5 timed.
    func gigabytesPerSecond(floats: Int, world: Communicator, _ allreduce: () throws -> Void) throws -> Double {
        try allreduce()
        try world.barrier()
        let repeats = 5
        let time = try ContinuousClock().measure { for _ in 0..<repeats { try allreduce() } }
        let seconds = Double(time.components.seconds) + Double(time.components.attoseconds) * 1e-18
        return Double(repeats * floats * 4) / seconds / 1e9
    }
}
