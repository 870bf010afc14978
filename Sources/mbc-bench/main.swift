import Foundation

// swift run -c release mbc-bench [model|modconv|gemm|loader ...] [--repeats N]
// mpirun -np 2 .build/release/mbc-bench ddp [--model 64-64-128] [--warmup 3] [--steps 5] (see DistributedBench.swift)
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "ddp" {
    do {
        try runDistributedBenchmark(arguments: Array(arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write(Data("mbc-bench ddp: \(error)\n".utf8))
        exit(2)
    }
    exit(0)
}
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
    case "gemm": runGemmBenchmark(repeats: repeats)
    case "loader": try runLoaderBenchmark()
    default:
        FileHandle.standardError.write(Data("mbc-bench: unknown mode `\(mode)`; use model, modconv, gemm, loader or ddp\n".utf8))
        exit(2)
    }
}
