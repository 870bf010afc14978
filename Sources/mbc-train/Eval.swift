import ArgumentParser
import Foundation
import MBDistributed
import MBTrain

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on the test split: loss, top-1, top-5 (sharded under mpirun).")

    @Option(name: .long, help: "The checkpoint (.safetensors) to evaluate.")
    var checkpoint: String

    @Option(name: .long, help: "The config; by default the one recorded in the checkpoint.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set data.root=/data (repeatable).")
    var overrides: [String] = []

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let world = try makeWorldCommunicator()
        let result: (loss: Double, top1: Double, top5: Double)
        do {
            let run: RunConfig
            if let config {
                run = try RunConfig.load(path: config, overrides: overrides)
            } else {
                var tree = try ConfigValue.parse(yaml: try Checkpoint.config(of: checkpoint), source: "\(checkpoint) (recorded config)")
                for o in overrides { try tree.apply(override: o) }
                run = try RunConfig(tree: tree)
            }
            let trainer = try Trainer(config: run, runDirectory: NSTemporaryDirectory(), world: world)
            try trainer.loadWeights(from: checkpoint)
            result = try trainer.evaluateTestSet()
        } catch {
            if world.rank == 0 { FileHandle.standardError.write(Data("error: \(userErrorText(error) ?? "\(error)")\n".utf8)) }
            throw ExitCode(userErrorText(error) == nil ? 1 : 2)
        }
        try world.finalize()
        guard world.rank == 0 else { return }
        if json {
            print(String(format: "{\"test_loss\": %.9f, \"test_top1\": %.9f, \"test_top5\": %.9f}", result.loss, result.top1, result.top5))
        } else {
            print(String(format: "%@: test loss %.4f  top-1 %.2f%%  top-5 %.2f%%", checkpoint, result.loss, 100 * result.top1, 100 * result.top5))
        }
    }
}
