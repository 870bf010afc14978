import ArgumentParser
import Foundation
import MBCore
import MBDeploy

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the deployable 1-bit model of a checkpoint and print its size.",
        discussion: """
            The file (safetensors, format mbc-export) holds each binary weight as signs packed 8 to a \
            byte, BatchNorm as per-channel scale and shift folded into the conv before it where that \
            conv is its only input, M-filters and float layers in F32, and the model config, class \
            names and input normalization as metadata: `eval --model` and `predict --model` need \
            nothing else. Layout: docs/FORMATS.md.
            """)

    @Option(name: .long, help: "The training checkpoint (.safetensors) to export.")
    var checkpoint: String

    @Option(name: .long, help: "Where to write the exported model (.safetensors).")
    var output: String

    @Flag(name: .long, help: "Print the sizes as JSON.")
    var json = false

    func run() throws {
        let (model, recomputed, floatBytes) = try userErrors { try ExportedModel.exporting(checkpoint: checkpoint) }
        try userErrors { try model.write(to: output) }
        let checkpointBytes = fileSize(checkpoint), exportBytes = fileSize(output)
        let ratio = Double(floatBytes) / Double(max(exportBytes, 1))
        if json {
            print(String(format: "{\"checkpoint_bytes\": %d, \"float_weight_bytes\": %d, \"export_bytes\": %d, \"ratio\": %.3f}",
                         checkpointBytes, floatBytes, exportBytes, ratio))
            return
        }
        if recomputed {
            print("note: the checkpoint records no input normalization (older mbc); recomputed from its training split")
        }
        print("exported \(output)")
        print(String(format: "checkpoint       %12d bytes  (%@)", checkpointBytes, checkpoint))
        print(String(format: "float32 weights  %12d bytes  (parameters and BatchNorm statistics, no momentum)", floatBytes))
        print(String(format: "exported model   %12d bytes  (1-bit weights, folded BatchNorm, metadata)", exportBytes))
        print(String(format: "ratio            %12.2fx (float32 weights / exported)", ratio))
    }

    private func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}
