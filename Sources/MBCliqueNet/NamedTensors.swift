import MBBase
import MBCore

/// Named tensors that do not fit a model's parameters and state; the message lists what is
/// missing, unexpected or mis-shaped and says what to do.
public struct ModelTensorsError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }

extension MBCliqueNet {
    /// Every parameter and BatchNorm running statistic as an F32 tensor under its name (the names
    /// of `parameters.infos` and `state.infos`, e.g. `blocks.0.conv3x3.1.weight`,
    /// `head.bn.running_var`): what a checkpoint writes. The PyTorch reference's `state_dict()`
    /// has the same names and shapes.
    public func namedTensors() -> [String: SafeTensor] {
        var tensors: [String: SafeTensor] = [:]
        for store in [parameters, state] {
            for info in store.infos {
                let values = UnsafeBufferPointer(start: store.values.pointer + info.offset, count: info.count)
                tensors[info.name] = SafeTensor(shape: info.shape, floats: Array(values))
            }
        }
        return tensors
    }

    /// Replaces every parameter and running statistic by the tensor of the same name, then
    /// recomputes the forward weights (`parametersChanged()`). The names must be exactly the
    /// model's; each tensor must be F32 with the model's shape. On any mismatch nothing changes
    /// and the error lists every problem.
    public func assign(_ tensors: [String: SafeTensor]) throws {
        let stores = [parameters, state]
        let expected = Set(stores.flatMap { $0.infos.map(\.name) })
        var problems: [String] = []
        func list(_ names: [String]) -> String {
            let shown = names.prefix(5).map { "`\($0)`" }.joined(separator: ", ")
            return names.count > 5 ? "\(shown) and \(names.count - 5) more" : shown
        }
        let missing = expected.subtracting(tensors.keys).sorted()
        let extra = Set(tensors.keys).subtracting(expected).sorted()
        if !missing.isEmpty { problems.append("missing \(missing.count): \(list(missing))") }
        if !extra.isEmpty { problems.append("not in this model \(extra.count): \(list(extra))") }
        for store in stores {
            for info in store.infos {
                guard let t = tensors[info.name] else { continue }
                if t.dtype != .f32 {
                    problems.append("`\(info.name)` is \(t.dtype.rawValue), expected F32")
                } else if t.shape != info.shape {
                    problems.append("`\(info.name)` has shape \(t.shape), the model has \(info.shape)")
                }
            }
        }
        guard problems.isEmpty else {
            throw ModelTensorsError("The tensors do not fit this model (widths \(config.widths), \(config.layers) layers, "
                + "k = \(config.k), \(config.classes) classes, compression \(config.compression ? "on" : "off")): "
                + problems.joined(separator: "; ")
                + ". Were they written for another model configuration? Use the configuration they were saved with.")
        }
        for store in stores {
            for info in store.infos {
                (store.values.pointer + info.offset).update(from: tensors[info.name]!.floats!, count: info.count)
            }
        }
        parametersChanged()
    }
}
