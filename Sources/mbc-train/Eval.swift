import ArgumentParser
import Foundation
import MBData
import MBDeploy
import MBDistributed
import MBTrain

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint or an exported model on the test split: loss, top-1, top-5 (sharded under mpirun).")

    @Option(name: .long, help: "The checkpoint (.safetensors) to evaluate.")
    var checkpoint: String?

    @Option(name: .long, help: "An exported model (mbc-train export) to evaluate from the file alone.")
    var model: String?

    @Option(name: .long, help: "The config; by default the one recorded in the checkpoint, except its data.root (default `data`; give --set data.root=DIR) (not with --model).")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set data.root=/data (repeatable; only data.* with --model).")
    var overrides: [String] = []

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (checkpoint == nil) != (model == nil) else { throw ValidationError("give either --checkpoint or --model.") }
        if model != nil, config != nil { throw ValidationError("--model evaluates the file alone; --config goes with --checkpoint.") }
    }

    func run() throws {
        let world = try makeWorldCommunicator()
        let result: (loss: Double, top1: Double, top5: Double)
        do {
            result = try model.map { try evaluateExport($0, world: world) } ?? evaluateCheckpoint(checkpoint!, world: world)
        } catch {
            if world.rank == 0 { FileHandle.standardError.write(Data("error: \(userErrorText(error) ?? "\(error)")\n".utf8)) }
            throw ExitCode(userErrorText(error) == nil ? 1 : 2)
        }
        try world.finalize()
        guard world.rank == 0 else { return }
        if json {
            print(String(format: "{\"test_loss\": %.9f, \"test_top1\": %.9f, \"test_top5\": %.9f}", result.loss, result.top1, result.top5))
        } else {
            print(String(format: "%@: test loss %.4f  top-1 %.2f%%  top-5 %.2f%%", model ?? checkpoint!, result.loss,
                         100 * result.top1, 100 * result.top5))
        }
    }

    func evaluateCheckpoint(_ path: String, world: Communicator) throws -> (loss: Double, top1: Double, top5: Double) {
        let run: RunConfig
        if let config {
            run = try RunConfig.load(path: config, overrides: overrides)
        } else {
            run = try RunConfig.recorded(in: path, overrides: overrides)
        }
        let trainer = try Trainer(config: run, runDirectory: NSTemporaryDirectory(), world: world)
        try trainer.loadWeights(from: path)
        return try trainer.evaluateTestSet()
    }

    /// Every rank reads the file and the test split; the test split's images must be the model's.
    func evaluateExport(_ path: String, world: Communicator) throws -> (loss: Double, top1: Double, top5: Double) {
        let exported = try ExportedModel(contentsOf: path)
        let data = try exported.dataConfig(overrides: overrides, source: path)
        let testSet = try loadDataset(data, split: .test)
        try exported.check(dataset: testSet, name: data.dataset.rawValue)
        let deployed = DeployedModel(exported)
        return try evaluate(testSet, normalization: exported.normalization, batchSize: data.evalBatch, chunk: data.evalBatch,
                            classes: exported.config.classes, world: world) { images, count in
            deployed.forward(images: images, count: count)
        }
    }
}
