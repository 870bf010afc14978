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
    /// included), so every rank started by `mpirun` makes the choice itself. Then as
    /// ArgumentParser's main, except that a command line it cannot parse (its exit code 64) exits
    /// with 2 like every other bad input, so the README's exit codes are the whole list.
    static func main() {
        do {
            try OpenBLAS.load()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
