import ArgumentParser
import Foundation

@main
struct MBCBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mbc-bench",
        abstract: "Time mbc's kernels, model, input pipeline and data-parallel training.",
        discussion: """
            Without a subcommand: modconv, then model. Several single-process benchmarks run in one \
            call in the order given, e.g. `mbc-bench modconv model loader --repeats 5`.
            """,
        subcommands: [ModelCommand.self, ModulatedConvCommand.self, GemmCommand.self, LoaderCommand.self,
                      DeployCommand.self, DistributedCommand.self])

    func run() throws {
        for benchmark in [Benchmark.modconv, .model] { try benchmark.run(repeats: BenchmarkOptions.defaultRepeats) }
    }

    /// A bad command line is one line on stderr and exit status 2; help is printed as usual.
    static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            FileHandle.standardError.write(Data("error: \(message(for: error))\n".utf8))
            Foundation.exit(2)
        }
        do {
            var command = command
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// The benchmarks that run in one process.
enum Benchmark: String, CaseIterable, ExpressibleByArgument {
    case model, modconv, gemm, loader, deploy

    var abstract: String {
        switch self {
        case .model: "One training step (batch 64) and one evaluation forward (batch 256) of two models, one thread: time, images/s, GFLOP/s and time per kernel kind."
        case .modconv: "The factored modulated conv against building Q and convolving directly, on the block shapes of two models, forward and backward."
        case .gemm: "OpenBLAS GFLOP/s on the layers' GEMM shapes, and the binary weight's product on sign lookup tables."
        case .loader: "Images/s of the input pipeline alone (synthetic CIFAR-shaped data, flip + crop + normalise)."
        case .deploy: "Images/s of inference from an exported model against the checkpoint model's evaluation forward, batch 256, one thread."
        }
    }

    func run(repeats: Int) throws {
        switch self {
        case .model: try runModelBenchmark(repeats: repeats)
        case .modconv: runModulatedConvBenchmark(repeats: repeats)
        case .gemm: runGemmBenchmark(repeats: repeats)
        case .loader: try runLoaderBenchmark()
        case .deploy: try runDeployBenchmark(repeats: repeats)
        }
    }
}

struct BenchmarkOptions: ParsableArguments {
    static let defaultRepeats = 5

    @Option(help: "Timed runs per measurement, after one warm-up; the median is printed (model, modconv, gemm, deploy).")
    var repeats = defaultRepeats

    @Argument(help: "More of model, modconv, gemm, loader, deploy to run after this one, with the same --repeats.")
    var then: [Benchmark] = []

    func validate() throws {
        if repeats < 1 { throw ValidationError("--repeats \(repeats): expected an integer >= 1") }
    }
}

/// The subcommand of one single-process benchmark; the benchmarks named after it run next.
protocol SingleProcessCommand: ParsableCommand {
    static var benchmark: Benchmark { get }
    var options: BenchmarkOptions { get }
}

extension SingleProcessCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: benchmark.rawValue, abstract: benchmark.abstract)
    }

    func run() throws {
        for benchmark in [Self.benchmark] + options.then { try benchmark.run(repeats: options.repeats) }
    }
}

struct ModelCommand: SingleProcessCommand { static let benchmark = Benchmark.model; @OptionGroup var options: BenchmarkOptions }
struct ModulatedConvCommand: SingleProcessCommand { static let benchmark = Benchmark.modconv; @OptionGroup var options: BenchmarkOptions }
struct GemmCommand: SingleProcessCommand { static let benchmark = Benchmark.gemm; @OptionGroup var options: BenchmarkOptions }
struct LoaderCommand: SingleProcessCommand { static let benchmark = Benchmark.loader; @OptionGroup var options: BenchmarkOptions }
struct DeployCommand: SingleProcessCommand { static let benchmark = Benchmark.deploy; @OptionGroup var options: BenchmarkOptions }

struct DistributedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddp",
        abstract: "Data-parallel training and sharded evaluation throughput of the real trainer on synthetic data; rank 0 prints one JSON line.",
        discussion: "Run under MPI, e.g. `mpirun -np 2 mbc-bench ddp --model 64-64-128`, or alone as a world of one.")
    @OptionGroup var options: DistributedBenchOptions

    func run() throws { try runDistributedBenchmark(options) }
}
