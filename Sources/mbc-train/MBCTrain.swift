import ArgumentParser
import Foundation
import MBTrain

@main
struct MBCTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mbc-train",
        abstract: "Train Modulated Binary CliqueNet (MBCliqueNet), data-parallel over MPI.",
        subcommands: [Train.self, Eval.self, Export.self, Predict.self, Report.self, Plot.self, Summary.self, InspectData.self, Env.self],
        defaultSubcommand: Train.self)
}
