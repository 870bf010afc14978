import Foundation
import MBCore
import MBTestSupport
@testable import MBTrain
import XCTest

/// launch/netns-cluster.sh: test hosts made of network namespaces on this machine, mpirun over
/// TCP across them. Needs root, `ip netns` and `unshare`; skipped with a note otherwise.
final class NetnsClusterTests: XCTestCase, CommandRunning {
    var script: String { repositoryRoot + "/launch/netns-cluster.sh" }

    /// Skips unless this process may make network and UTS namespaces.
    func requireNamespaces() throws {
        guard getuid() == 0 else { throw XCTSkip("netns-cluster needs root (network namespaces); not running as root") }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        func tool(_ name: String) -> String? {
            path.split(separator: ":").map { "\($0)/\(name)" }.first(where: FileManager.default.isExecutableFile(atPath:))
        }
        guard let ip = tool("ip") else { throw XCTSkip("no `ip` (iproute2) on PATH; apt-get install iproute2 to run the netns tests") }
        guard let unshare = tool("unshare") else { throw XCTSkip("no `unshare` (util-linux) on PATH") }
        _ = try mpirun()
        let probe = "mbc-probe-\(getpid())"
        let added = try run(ip, ["netns", "add", probe], timeout: 20)
        defer { _ = try? run(ip, ["netns", "del", probe], timeout: 20) }
        guard added.status == 0 else { throw XCTSkip("`ip netns add` is not permitted here: \(added.output)") }
        let uts = try run(ip, ["netns", "exec", probe, unshare, "--uts", "hostname", "mbc-probe"], timeout: 20)
        guard uts.status == 0 else { throw XCTSkip("no UTS namespace inside a network namespace here: \(uts.output)") }
    }

    /// The namespace prefix the script announced, and that none of its namespaces is left.
    func assertTornDown(_ output: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let r = output.range(of: #"namespaces (mbc[0-9]+)-host\*"#, options: .regularExpression) else {
            return XCTFail("the script did not name its namespaces:\n\(output)", file: file, line: line)
        }
        let prefix = String(output[r].dropFirst("namespaces ".count).dropLast("-host*".count))
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(prefix + "-") }
        XCTAssertEqual(left, [], "namespaces left behind", file: file, line: line)
    }

    func testTwoHostsShowTwoHostnamesAndPassTheCollectives() throws {
        try requireNamespaces()
        let result = try run(script, ["2", "--", try binary(), "env"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.output)
        let lines = result.output.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("world: 2 ranks (MPI)"), result.output)
        XCTAssertTrue(lines.contains { $0.hasPrefix("rank 0: host mbc-host1,") }, result.output)
        XCTAssertTrue(lines.contains { $0.hasPrefix("rank 1: host mbc-host2,") }, result.output)
        XCTAssertTrue(lines.contains("collectives: ok"), result.output)
        assertTornDown(result.output)
    }

    /// A failing command's status comes back, the hosts are removed; bad usage is one line, exit 2.
    func testFailureIsPassedOnAndTheHostsAreRemoved() throws {
        try requireNamespaces()
        let failed = try run(script, ["2", "--", "/bin/sh", "-c", "exit 3"], timeout: 60)
        XCTAssertEqual(failed.status, 3, failed.output)
        assertTornDown(failed.output)
        for bad in [["0", "--", "true"], ["2", "true"], ["2", "--slots", "x", "--", "true"]] {
            let usage = try run(script, bad, timeout: 20)
            XCTAssertEqual(usage.status, 2, "\(bad): \(usage.output)")
            XCTAssertEqual(usage.output.split(separator: "\n").count, 1, "\(bad): \(usage.output)")
        }
    }

    /// A small synthetic run of 16 steps as 2 ranks on 2 netns hosts (TCP) and as 2 ranks on one
    /// host (shared memory): every tensor of the final checkpoint is bitwise the same.
    func testTwoHostsTrainBitwiseLikeTwoRanksOnOneHost() throws {
        try assertHostsTrainBitwiseLikeRanksOnOneHost(2)
    }

    /// The same with 4 hosts of one rank each against 4 ranks on one host (8 images per rank).
    func testFourHostsTrainBitwiseLikeFourRanksOnOneHost() throws {
        try assertHostsTrainBitwiseLikeRanksOnOneHost(4)
    }

    /// A 16-step synthetic run as `hosts` ranks on as many netns hosts and on one host.
    func assertHostsTrainBitwiseLikeRanksOnOneHost(_ hosts: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        try requireNamespaces()
        let binary = try binary(), dir = try temporaryDirectory(for: self)
        let config = try syntheticConfig(in: dir, epochs: 2)
        let train = [binary, "train", "--config", config]
        let oneHost = try run(try mpirun(), ["-np", String(hosts), "--oversubscribe", "-x", "OPENBLAS_NUM_THREADS=1"] + train + ["--run-dir", dir + "/one"],
                              timeout: 300, environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertEqual(oneHost.status, 0, oneHost.output, file: file, line: line)
        let manyHosts = try run(script, [String(hosts), "--"] + train + ["--run-dir", dir + "/hosts"],
                                timeout: 300, environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertEqual(manyHosts.status, 0, manyHosts.output, file: file, line: line)
        assertTornDown(manyHosts.output, file: file, line: line)
        // distributed.overlap is auto: after backward on one host; across hosts measured for three
        // steps, then chosen (either way the sums are the same).
        XCTAssertTrue(oneHost.output.contains("after backward (auto: the ranks share one host)"), oneHost.output, file: file, line: line)
        XCTAssertTrue(manyHosts.output.contains("(auto: the ranks are on \(hosts) hosts)"), manyHosts.output, file: file, line: line)
        XCTAssertTrue(manyHosts.output.contains("allreduce: overlapped with backward from step 5 (after backward it took ")
                      || manyHosts.output.contains("allreduce: stays after backward (it takes "), manyHosts.output, file: file, line: line)

        try assertFinalCheckpointsBitwiseEqual(dir + "/one", dir + "/hosts", step: 16, worldSize: hosts, file: file, line: line)
    }

    /// A slow link only makes the run slower: the 16-step run of 2 hosts whose links are shaped by
    /// tc (tbf, 2 Mbit/s each way; about 28 KB of gradients a step) ends bitwise equal to the same
    /// run on unshaped links, and takes longer. tc netem (delay, loss) is not in this sandbox's
    /// kernel; docs/SCALING.md says so.
    func testASlowLinkOnlyMakesTheRunSlower() throws {
        try requireNamespaces()
        let tbf = try run("/bin/sh", ["-c", "PATH=$PATH:/usr/sbin:/sbin; n=mbc-tbf-$$; ip netns add $n && "
                                             + "ip -n $n link add d0 type veth peer name d1 && ip netns exec $n tc qdisc add dev d0 root tbf rate 2mbit burst 16kb latency 2s; "
                                             + "s=$?; ip netns del $n; exit $s"], timeout: 20)
        guard tbf.status == 0 else { throw XCTSkip("tc's tbf qdisc is not available here: \(tbf.output)") }
        let binary = try binary(), dir = try temporaryDirectory(for: self)
        let config = try syntheticConfig(in: dir, epochs: 2)
        func timed(_ options: [String], _ name: String) throws -> (seconds: Double, output: String) {
            let started = Date()
            let result = try run(script, ["2"] + options + ["--", binary, "train", "--config", config, "--run-dir", dir + "/" + name],
                                 timeout: 300, environment: ["OPENBLAS_NUM_THREADS": "1"])
            let seconds = Date().timeIntervalSince(started)
            XCTAssertEqual(result.status, 0, result.output)
            assertTornDown(result.output)
            return (seconds, result.output)
        }
        let fast = try timed([], "fast")
        let slow = try timed(["--tc", "tbf rate 2mbit burst 16kb latency 2s"], "slow")
        print("NetnsClusterTests: 16 steps on 2 hosts, unshaped links \(String(format: "%.2f", fast.seconds)) s, "
              + "tbf 2 Mbit/s links \(String(format: "%.2f", slow.seconds)) s")
        XCTAssertTrue(slow.output.contains("links: tbf rate 2mbit"), slow.output)
        XCTAssertGreaterThan(slow.seconds, fast.seconds + 1, "the shaped run was not slower:\n\(slow.output)")
        let a = try SafeTensors(contentsOf: CheckpointDirectory(runDirectory: dir + "/fast").periodic(step: 16)).tensors
        let b = try SafeTensors(contentsOf: CheckpointDirectory(runDirectory: dir + "/slow").periodic(step: 16)).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        XCTAssertGreaterThan(a.count, 50)
        for (name, t) in a { XCTAssertEqual(t.bytes, b[name]?.bytes, "\(name) differs between the shaped and unshaped links") }
    }

    /// A cluster run of the script with `arguments` in the background, once it has reported step
    /// 20; a watchdog ends it after 120 s.
    struct BackgroundRun {
        let process: Process, pipe: Pipe, watchdog: DispatchWorkItem
        let transcript: Transcript
        /// The prefix of the namespaces, as the script announced it.
        let prefix: String

        /// Waits for the run's end: its exit status and the seconds from `start` to its end.
        func wait(from start: Date) -> (status: Int32, seconds: Double) {
            process.waitUntilExit()
            let seconds = Date().timeIntervalSince(start)
            pipe.fileHandleForReading.readabilityHandler = nil
            watchdog.cancel()
            return (process.terminationStatus, seconds)
        }
    }

    func startedAtStep20(_ arguments: [String]) throws -> BackgroundRun {
        let (process, pipe) = makeProcess(script, arguments, environment: ["OPENBLAS_NUM_THREADS": "1"])
        let transcript = Transcript()
        let stepped = DispatchSemaphore(value: 0)
        pipe.fileHandleForReading.readabilityHandler = { handle in
            if transcript.append(String(decoding: handle.availableData, as: UTF8.self), watchingFor: "step 20/") { stepped.signal() }
        }
        try process.run()
        let watchdog = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        XCTAssertEqual(stepped.wait(timeout: .now() + 60), .success, "no step 20:\n\(transcript.text)")
        let started = transcript.text
        let prefix = try XCTUnwrap(started.range(of: #"namespaces mbc[0-9]+"#, options: .regularExpression)
            .map { String(started[$0].dropFirst("namespaces ".count)) }, started)
        return BackgroundRun(process: process, pipe: pipe, watchdog: watchdog, transcript: transcript, prefix: prefix)
    }

    /// The newest checkpoint left in `runDirectory`, once every one there passed its checksum.
    func newestOfWholeCheckpoints(in runDirectory: String, _ transcript: String) throws -> (step: Int, path: String) {
        let left = CheckpointDirectory(runDirectory: runDirectory).all()
        for checkpoint in left { XCTAssertNoThrow(try Checkpoint.verified(checkpoint.path), checkpoint.path) }
        return try XCTUnwrap(left.last, "no checkpoint left:\n\(transcript)")
    }

    /// Host 2's link goes down mid-run: host 1's rank and mpirun end within a bounded time (the
    /// script's TCP keepalive defaults; measured 6 to 7 s) saying a daemon was lost; every
    /// checkpoint left passes its checksum, and `--resume auto` on a fresh cluster continues from
    /// the newest.
    func testACutLinkEndsTheRunSoonAndTheRunResumes() throws {
        try requireNamespaces()
        let binary = try binary(), dir = try temporaryDirectory(for: self)
        let config = try syntheticConfig(in: dir, epochs: 400)   // far longer than the test waits
        let runDir = dir + "/cut"
        let cluster = try startedAtStep20(["2", "--", binary, "train", "--config", config, "--run-dir", runDir])
        let transcript = cluster.transcript
        let cut = try run("/bin/sh", ["-c", "PATH=$PATH:/usr/sbin:/sbin ip -n \(cluster.prefix)-host2 link set eth0 down"], timeout: 20)
        XCTAssertEqual(cut.status, 0, cut.output)
        let (status, took) = cluster.wait(from: Date())
        XCTAssertNotEqual(status, 0, transcript.text)
        XCTAssertLessThan(took, 30, "the run took \(took) s to end after the cut:\n\(transcript.text)")
        XCTAssertTrue(transcript.text.contains("lost communication with a remote daemon"), transcript.text)
        assertTornDown(transcript.text)

        let newest = try newestOfWholeCheckpoints(in: runDir, transcript.text)
        let resumed = try run(script, ["2", "--", binary, "train", "--config", config, "--run-dir", runDir,
                                       "--resume", "auto", "--max-steps", String(newest.step + 4)],
                              timeout: 120, environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from \(runDir)/checkpoints/"), resumed.output)
        XCTAssertTrue(resumed.output.contains("at step \(newest.step)"), resumed.output)
        XCTAssertTrue(resumed.output.contains("finished at step \(newest.step + 4)"), resumed.output)
    }

    /// Host 2's rank is killed (SIGKILL) mid-run: host 1's rank and mpirun end within a bounded
    /// time, mpirun naming the rank, its host and the signal; every checkpoint left passes its
    /// checksum, and `--resume auto` as 2 ranks on one host ends with every tensor bitwise equal
    /// to the same run left uninterrupted.
    func testAKilledRankEndsTheRunSoonAndTheResumeIsBitwise() throws {
        try requireNamespaces()
        let binary = try binary(), mpirun = try mpirun(), dir = try temporaryDirectory(for: self)
        let config = try syntheticConfig(in: dir, epochs: 400)   // the runs stop at --max-steps
        let lastStep = 320
        let oneHost = ["-np", "2", "--oversubscribe", "-x", "OPENBLAS_NUM_THREADS=1"]
        let train = [binary, "train", "--config", config, "--max-steps", String(lastStep)]
        let straight = try run(mpirun, oneHost + train + ["--run-dir", dir + "/straight"],
                               timeout: 300, environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertEqual(straight.status, 0, straight.output)

        let runDir = dir + "/killed"
        let cluster = try startedAtStep20(["2", "--"] + train + ["--run-dir", runDir])
        let transcript = cluster.transcript
        // The rank is the process of host 2 whose executable is mbc-train (the others there are
        // the agent's shell and Open MPI's daemon).
        let kill = try run("/bin/sh", ["-c", """
            PATH=$PATH:/usr/sbin:/sbin
            for p in $(ip netns pids \(cluster.prefix)-host2); do
                case "$(readlink /proc/$p/exe)" in */mbc-train) kill -KILL $p && echo "killed $p" ;; esac
            done
            true
            """], timeout: 20)
        let killedAt = Date()
        XCTAssertTrue(kill.output.hasPrefix("killed "), "no rank of host 2 to kill: \(kill.output)")
        let (status, took) = cluster.wait(from: killedAt)
        XCTAssertNotEqual(status, 0, transcript.text)
        XCTAssertLessThan(took, 30, "the run took \(took) s to end after the kill:\n\(transcript.text)")
        print("NetnsClusterTests: the run ended \(String(format: "%.2f", took)) s after host 2's rank was killed, status \(status)")
        XCTAssertTrue(transcript.text.contains("rank 1 with PID"), transcript.text)
        XCTAssertTrue(transcript.text.contains("on node mbc-host2 exited on signal 9 (Killed)"), transcript.text)
        assertTornDown(transcript.text)

        let newest = try newestOfWholeCheckpoints(in: runDir, transcript.text)
        XCTAssertLessThan(newest.step, lastStep, "the kill came after the run's end:\n\(transcript.text)")
        let resumed = try run(mpirun, oneHost + train + ["--run-dir", runDir, "--resume", "auto"],
                              timeout: 300, environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("at step \(newest.step)"), resumed.output)
        XCTAssertTrue(resumed.output.contains("finished at step \(lastStep)"), resumed.output)
        let a = try SafeTensors(contentsOf: CheckpointDirectory(runDirectory: dir + "/straight").periodic(step: lastStep)).tensors
        let b = try SafeTensors(contentsOf: CheckpointDirectory(runDirectory: runDir).periodic(step: lastStep)).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        XCTAssertNotNil(a["ranks.running_statistics"])
        XCTAssertGreaterThan(a.count, 50)
        for (name, t) in a { XCTAssertEqual(t.bytes, b[name]?.bytes, "\(name) differs after the kill and resume") }
    }
}
