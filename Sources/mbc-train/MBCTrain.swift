import ArgumentParser
import Foundation
import MBCore
import MBTrain

@main
struct MBCTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mbc-train",
        abstract: "Train Modulated Binary CliqueNet (MBCliqueNet), data-parallel over MPI.",
        subcommands: [Train.self, Eval.self, Export.self, Predict.self, Report.self, Plot.self, Summary.self, InspectData.self, Env.self],
        defaultSubcommand: Train.self)

    /// OpenBLAS is loaded, with the kernels chosen for this CPU, before anything else runs (MPI
    /// included), so every rank started by `mpirun` makes the choice itself.
    static func main() {
        do {
            try OpenBLAS.load()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        }
        main(nil)
    }
}
