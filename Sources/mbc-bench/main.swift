import Foundation

// swift run -c release mbc-bench [model|modconv|loader ...] [--repeats N]
var arguments = Array(CommandLine.arguments.dropFirst())
var repeats = 5
if let i = arguments.firstIndex(of: "--repeats"), i + 1 < arguments.count, let r = Int(arguments[i + 1]) {
    repeats = r
    arguments.removeSubrange(i...(i + 1))
}
let modes = arguments.isEmpty ? ["modconv", "model"] : arguments
for mode in modes {
    switch mode {
    case "model": try runModelBenchmark(repeats: repeats)
    case "modconv": runModulatedConvBenchmark(repeats: repeats)
    case "loader": try runLoaderBenchmark()
    default:
        FileHandle.standardError.write(Data("mbc-bench: unknown mode `\(mode)`; use model, modconv or loader\n".utf8))
        exit(2)
    }
}
