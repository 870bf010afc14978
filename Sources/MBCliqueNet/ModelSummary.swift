import Foundation
import MBBase
import MBCore

/// A Larq-style summary: per layer kind, the latent parameter count, how many of them deploy as
/// 1 bit and how many as float32, the memory as trained and as deployed, and the forward
/// multiply-adds per image (factored modulated conv; the naive route's count alongside).
public struct ModelSummary: Equatable {
    public struct Row: Equatable {
        public var kind: String
        public var parameters = 0
        public var binaryParameters = 0
        public var floatParameters = 0
        public var multiplyAdds = 0
        public var naiveMultiplyAdds = 0

        /// float32 bytes of the latent parameters.
        public var trainedBytes: Int { 4 * parameters }
        /// 1 bit per binary weight, 32 per float (rounded up to whole bytes).
        public var deployedBytes: Int { (binaryParameters + 7) / 8 + 4 * floatParameters }
    }

    public var rows: [Row]
    public var total: Row {
        rows.reduce(into: Row(kind: "total")) { t, r in
            t.parameters += r.parameters
            t.binaryParameters += r.binaryParameters
            t.floatParameters += r.floatParameters
            t.multiplyAdds += r.multiplyAdds
            t.naiveMultiplyAdds += r.naiveMultiplyAdds
        }
    }
    public var compressionRatio: Double { Double(total.trainedBytes) / Double(max(total.deployedBytes, 1)) }

    public init(model: MBCliqueNet) {
        let order = [ConvKind.stem.rawValue, ConvKind.block1x1.rawValue, ConvKind.modulated3x3.rawValue, "M-filter",
                     "BatchNorm", ConvKind.transition.rawValue, ConvKind.compression.rawValue, ConvKind.head.rawValue]
        var byKind: [String: Row] = [:]
        for info in model.parameters.infos {
            var row = byKind[info.group] ?? Row(kind: info.group)
            row.parameters += info.count
            if info.binary { row.binaryParameters += info.count } else { row.floatParameters += info.count }
            byKind[info.group] = row
        }
        for (kind, macs, naive) in model.multiplyAddsByKind() {
            byKind[kind, default: Row(kind: kind)].multiplyAdds += macs
            byKind[kind, default: Row(kind: kind)].naiveMultiplyAdds += naive
        }
        rows = order.compactMap { byKind[$0] }
    }

    /// A fixed-width table for the console.
    public var table: String {
        func n(_ v: Int) -> String { v.formatted(.number.grouping(.automatic)) }
        func mb(_ bytes: Int) -> String { String(format: "%.3f MB", Double(bytes) / 1e6) }
        let header = ["layer kind", "parameters", "1-bit", "float32", "trained", "deployed", "MACs/image"]
        var lines = [header]
        for r in rows + [total] {
            lines.append([r.kind, n(r.parameters), n(r.binaryParameters), n(r.floatParameters),
                          mb(r.trainedBytes), mb(r.deployedBytes), n(r.multiplyAdds)])
        }
        var table = tableLines(lines)
        let totalLine = table.removeLast()
        table += [String(repeating: "-", count: totalLine.count), totalLine]
        table.append(String(format: "compression %.2fx (trained float32 / deployed); naive modulated conv would need %@ MACs/image",
                            compressionRatio, n(total.naiveMultiplyAdds)))
        return table.joined(separator: "\n")
    }

    /// The same as a JSON object with `parameters`, `binary_parameters`, `float_parameters`, ...
    public var json: String {
        func obj(_ r: Row) -> [String: Any] {
            ["kind": r.kind, "parameters": r.parameters, "binary_parameters": r.binaryParameters,
             "float_parameters": r.floatParameters, "trained_bytes": r.trainedBytes, "deployed_bytes": r.deployedBytes,
             "macs_per_image": r.multiplyAdds, "naive_macs_per_image": r.naiveMultiplyAdds]
        }
        var root = obj(total)
        root.removeValue(forKey: "kind")
        root["compression_ratio"] = (compressionRatio * 1000).rounded() / 1000
        root["layers"] = rows.map(obj)
        let data = try! JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

extension MBCliqueNet {
    /// Forward multiply-adds per image of every conv, by kind: (kind, factored, naive).
    func multiplyAddsByKind() -> [(String, Int, Int)] {
        var out: [(String, Int, Int)] = []
        func conv1x1(_ kind: ConvKind, out o: Int, in c: Int, plane: Int) {
            out.append((kind.rawValue, o * c * plane, o * c * plane))
        }
        func conv1x1(_ kind: ConvKind, _ c: BatchNormReLUConv1x1) {
            conv1x1(kind, out: c.outChannels, in: c.inChannels, plane: c.output.plane)
        }
        let stem = 9 * config.stemChannels * config.inChannels * stem.output.plane
        out.append((ConvKind.stem.rawValue, stem, stem))
        for block in blocks {
            for layer in block.stage1 + block.stage2 {
                conv1x1(.block1x1, layer.squeeze.conv)
                let conv = layer.conv.conv, hw = conv.output.plane
                let cin = conv.filter.inChannels, o = conv.output.c
                out.append((ConvKind.modulated3x3.rawValue, 9 * conv.filter.filters * cin * hw + 9 * o * hw, 9 * o * cin * hw))
            }
        }
        for t in transitions { conv1x1(.transition, t.conv.conv) }
        for p in pools { if let c = p.compression { conv1x1(.compression, c.conv) } }
        conv1x1(.head, out: headConv.outChannels, in: headConv.inChannels, plane: 1)
        return out
    }
}
