import ArgumentParser
import Foundation
import MBCliqueNet
import MBDistributed
import MBTrain

/// Exit codes of `mbc-train train` (also listed in the README).
enum TrainExit: Int32 {
    case finished = 0, failed = 1, badInput = 2, diverged = 3, replicasDiverged = 4, interrupted = 130
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train (the default command). Run under `mpirun -np N` for N data-parallel ranks.",
        discussion: """
        Exit codes: 0 finished (budget or --max-steps reached), 1 internal or MPI failure, 2 bad \
        input (config, data, checkpoint, run directory), 3 the loss or a gradient was not finite \
        (no update applied; checkpoints kept), 4 the ranks' parameters diverged, 130 stopped by \
        SIGINT/SIGTERM/SIGUSR1 after writing a checkpoint (see the README for mpirun).
        """)

    @Option(name: .long, help: "The YAML config file, e.g. configs/quick.yaml.")
    var config: String

    @Option(name: .long, help: "The run directory (default: runs/<config name>).")
    var runDir: String?

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set optim.lr_max=0.05 (repeatable).")
    var overrides: [String] = []

    @Option(name: .long, help: "`auto` (newest checkpoint of the run directory, or a fresh start) or a checkpoint path.")
    var resume: String?

    @Option(name: .long, help: "Stop after this global step (a checkpoint is written there).")
    var maxSteps: Int?

    @Flag(name: .long, help: "Validate the config, data and run directory, print the plan, and exit.")
    var dryRun = false

    @Option(name: .long, help: "Progress display: `bar` (redrawn line), `lines` (a line every log.print_every_steps), or `auto` (bar on a terminal, lines otherwise and under mpirun).")
    var progress: ProgressStyle = .auto

    func run() throws {
        let world: Communicator
        do {
            world = try makeWorldCommunicator()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(TrainExit.failed.rawValue)
        }
        let code = execute(world)
        if code == .finished || code == .interrupted || code == .diverged { try? world.finalize() }
        throw ExitCode(code.rawValue)
    }

    func execute(_ world: Communicator) -> TrainExit {
        let console = Console(rank: world.rank, bar: progress.showsBar(underMPI: world.size > 1 || launchedByMPI()))
        do {
            // Each rank reads the config and its data and checks its CPU on its own host; the ranks
            // agree before any collective, so a failure on any rank is named by rank 0.
            let local = Result { () throws -> (String, RunDirectory, Trainer) in
                let run = try RunConfig.load(path: config, overrides: overrides)
                let directory = runDir ?? "runs/" + ((config as NSString).lastPathComponent as NSString).deletingPathExtension
                if let maxSteps, maxSteps < 1 { throw ConfigError("--max-steps is \(maxSteps); give a positive step count.") }
                let runDirectory = RunDirectory(path: directory)
                try runDirectory.checkWritable()
                return (directory, runDirectory, try Trainer(config: run, runDirectory: directory, world: world))
            }
            try agreeOnStart(local, world: world)
            let (directory, runDirectory, trainer) = try local.get()
            let earlier = runDirectory.earlierRunEntries.joined(separator: ", ")
            let resumePath: String?
            switch resume {
            case nil:
                if !earlier.isEmpty {
                    throw ConfigError("the run directory `\(directory)` already holds a run (\(earlier)); continue it with --resume auto, or choose another --run-dir.")
                }
                resumePath = nil
            case "auto"?:
                resumePath = trainer.newestCheckpoint
                if resumePath == nil && !earlier.isEmpty {
                    throw ConfigError("--resume auto: the run directory `\(directory)` holds no step checkpoint to continue from, but files of an earlier run (\(earlier)); choose another --run-dir, or move those files away to start again there.")
                }
            case let path?:
                guard FileManager.default.fileExists(atPath: path) else {
                    throw ConfigError("--resume: no file `\(path)`; give a checkpoint path or `auto`.")
                }
                if !earlier.isEmpty && !runDirectory.holds(path) {
                    throw ConfigError("the run directory `\(directory)` already holds a run (\(earlier)); to branch from `\(path)`, choose a new --run-dir.")
                }
                resumePath = path
            }
            let plan = try trainer.plan
            console.started(plan, runDirectory: directory)
            if dryRun { return .finished }
            if let resumePath {
                let notice = try trainer.resume(from: resumePath)
                let newer = runDirectory.checkpoints(after: trainer.currentStep, except: resumePath)
                if !newer.isEmpty {
                    throw ConfigError("the run directory `\(directory)` holds checkpoints newer than step \(trainer.currentStep) of `\(resumePath)` (\(newer.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))); continue the newest with --resume auto, or branch from step \(trainer.currentStep) into a new directory with --run-dir NEW --resume \(resumePath).")
                }
                try trainer.prepareRunDirectory()
                console.event(.resumed(from: resumePath, step: trainer.currentStep, notice: notice))
            } else {
                try trainer.initialize()
                try trainer.prepareRunDirectory()
            }
            // Rank 0's TensorBoard scalars. A file that cannot be written stops them, not the
            // training (rank 0 alone throwing here would leave the other ranks in a collective).
            var tensorBoard: TensorBoardWriter?
            if world.rank == 0 {
                do {
                    tensorBoard = try TensorBoardWriter(runDirectory: directory)
                } catch {
                    console.line("warning: \(error) Training goes on without TensorBoard events.")
                }
            }
            func event(_ e: TrainingEvent) {
                console.event(e)
                do {
                    try tensorBoard?.record(e)
                } catch {
                    console.line("warning: \(error) TensorBoard events are no longer written.")
                    tensorBoard = nil
                }
            }
            installStopHandlers(underMPI: launchedByMPI())
            switch try trainer.train(maxSteps: maxSteps, events: event) {
            case .finished(let step):
                console.line("finished at step \(step); logs in \(directory)/eval.jsonl and eval.csv")
                return .finished
            case .interrupted(let step, let checkpoint):
                console.line("stopped at step \(step) after writing \(checkpoint); continue with --resume auto")
                return .interrupted
            case .diverged(let step):
                console.error("the loss or a gradient was not finite at step \(step); no update was applied and the checkpoints in \(directory)/checkpoints are kept. Lower optim.lr_max or resume from an earlier checkpoint.")
                return .diverged
            }
        } catch let e as StartFailure {
            for line in e.lines { console.error(line) }
            return e.exit
        } catch let e as ConfigError {
            console.error(e.message)
            return .badInput
        } catch let e as CheckpointError {
            console.error(e.message)
            return .badInput
        } catch let e as TrainingError {
            console.error(e.message, everyRank: true)
            return .replicasDiverged
        } catch {
            if let text = userErrorText(error) {
                console.error(text)
                return .badInput
            }
            console.error("\(error)", everyRank: true)
            return .failed
        }
    }
}

/// The start failed on some rank: what rank 0 prints, and the exit code.
struct StartFailure: Error {
    let lines: [String]
    let exit: TrainExit
}

/// Every rank brings how its start went; when any failed, every rank throws `StartFailure`: the
/// error once when every rank failed alike, otherwise one line per failing rank with its host
/// (a host without the data, or whose CPU lacks what the config asks for). The exit code is
/// the first failing rank's: 2 for bad input, 1 otherwise.
func agreeOnStart<T>(_ local: Result<T, Error>, world: Communicator) throws {
    // Each rank's "code<TAB>host<TAB>message"; an empty code for a good start.
    var mine = "\t\(hostName())\t"
    if case .failure(let error) = local {
        let text = userErrorText(error)
        mine = "\((text == nil ? TrainExit.failed : .badInput).rawValue)" + mine + (text ?? "\(error)")
    }
    var verdict = ""
    if let all = try world.gather(mine, root: 0) {
        let failed = all.enumerated().compactMap { rank, text -> (rank: Int, code: Substring, host: Substring, message: Substring)? in
            let fields = text.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[0].isEmpty else { return nil }
            return (rank, fields[0], fields[1], fields[2])
        }
        if let first = failed.first {
            let lines = failed.count == all.count && Set(failed.map(\.message)).count == 1
                ? [String(first.message)]
                : failed.map { "rank \($0.rank) (host \($0.host)): \($0.message)" }
            verdict = "\(first.code)\t" + lines.joined(separator: "\n")
        }
    }
    verdict = try world.broadcast(verdict, root: 0)
    guard let tab = verdict.firstIndex(of: "\t") else { return }
    let code = Int32(verdict[..<tab]).flatMap(TrainExit.init(rawValue:)) ?? .failed
    throw StartFailure(lines: verdict[verdict.index(after: tab)...].split(separator: "\n").map(String.init), exit: code)
}

/// Asks every rank to stop at the next step boundary, after a checkpoint:
/// - SIGINT, SIGTERM (a second one ends the process at once) and SIGUSR1 (what `mpirun` forwards
///   to the ranks, and what launch/train.sh sends it on SIGINT/SIGTERM);
/// - under `mpirun`, a SIGCONT that does not follow a SIGTSTP: `mpirun` sends it to every rank
///   first when it is itself told to stop, then SIGTERM and SIGKILL, each after
///   `odls_base_sigkill_timeout` seconds.
func installStopHandlers(underMPI: Bool) {
    for sig in [SIGINT, SIGTERM] {
        signal(sig) { s in
            stopRequested = 1
            signal(s, SIG_DFL)
        }
    }
    signal(SIGUSR1) { _ in stopRequested = 1 }
    guard underMPI else { return }
    signal(SIGTSTP) { _ in
        suspendedBySignal = 1
        raise(SIGSTOP)
    }
    signal(SIGCONT) { _ in
        if suspendedBySignal != 0 { suspendedBySignal = 0 } else { stopRequested = 1 }
    }
}

/// Set while the process is stopped by a SIGTSTP (so that the SIGCONT after it only resumes).
nonisolated(unsafe) var suspendedBySignal: Int32 = 0

/// Rank 0's console: the plan at start, a progress bar on a terminal (plain periodic lines
/// otherwise), evaluations and checkpoints.
final class Console {
    let rank: Int
    let terminal: Bool
    private var barShown = false

    init(rank: Int, bar: Bool) {
        self.rank = rank
        terminal = bar
    }

    func line(_ text: String) {
        guard rank == 0 else { return }
        if barShown { print(""); barShown = false }
        print(text)
        fflush(stdout)
    }

    func error(_ text: String, everyRank: Bool = false) {
        guard rank == 0 || everyRank else { return }
        if barShown { print(""); barShown = false }
        let prefix = rank == 0 ? "" : "rank \(rank): "
        FileHandle.standardError.write(Data("error: \(prefix)\(text)\n".utf8))
    }

    func started(_ plan: TrainingPlan, runDirectory: String) {
        line("mbc-train: run directory \(runDirectory)")
        line("world: \(plan.worldSize) rank\(plan.worldSize == 1 ? "" : "s")")
        for (r, place) in plan.ranks.enumerated() { line("  rank \(r): \(place)") }
        if plan.worldSize > 1 { line("allreduce: \(plan.allreduce)") }
        line("config (resolved):\n" + plan.resolvedConfig.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        line(plan.summary.table)
        line("data: \(plan.trainCount) training, \(plan.testCount) test images; \(plan.stepsPerEpoch) steps per epoch, \(plan.totalSteps) steps in all")
    }

    func event(_ e: TrainingEvent) {
        guard rank == 0 else { return }
        switch e {
        case .resumed(let path, let step, let notice):
            line("resumed from \(path) at step \(step)")
            for note in notice?.split(separator: "\n") ?? [] { line("note: \(note)") }
        case .progress(let step, let total, let epoch, let loss, let lr, let ips):
            let text = String(format: "step %d/%d  epoch %d  loss %.4f  lr %.5f  %.1f img/s", step, total, epoch, loss, lr, ips)
            if terminal {
                let width = 24, filled = min(width, width * step / max(total, 1))
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                print("\r[\(bar)] \(text)", terminator: "")
                barShown = true
                fflush(stdout)
            } else {
                line(text)
            }
        case .evaluated(let r):
            line(String(format: "eval epoch %d step %d: test loss %.4f  top-1 %.2f%%  top-5 %.2f%%  (train loss %.4f, top-1 %.2f%%, %.1f img/s)",
                        r.epoch, r.step, r.testLoss, 100 * r.testTop1, 100 * r.testTop5, r.trainLoss, 100 * r.trainTop1, r.imagesPerSecond))
        case .checkpointed(let path): line("checkpoint \(path)")
        case .allreduceChosen(let step, let overlapped, let fraction):
            let share = String(format: "%.1f %%", fraction * 100)
            line(overlapped ? "allreduce: overlapped with backward from step \(step + 1) (after backward it took \(share) of a step)"
                            : "allreduce: stays after backward (it takes \(share) of a step)")
        }
    }
}

enum ProgressStyle: String, ExpressibleByArgument, CaseIterable {
    case auto, bar, lines

    /// Under mpirun a rank's stdout is a pseudo-terminal even when mpirun's output goes to a
    /// file, so `auto` prints lines there.
    func showsBar(underMPI: Bool) -> Bool {
        switch self {
        case .bar: return true
        case .lines: return false
        case .auto: return !underMPI && isatty(STDOUT_FILENO) != 0
        }
    }
}
