/// The memory a model of a configuration takes, estimated from the configuration alone (no
/// allocation), in floating point so that no size can overflow: a configuration too large for the
/// machine is refused with its estimate before anything is built.
///
/// The parameter count is exact (docs/MODEL.md section 10). The rest was measured (peak resident
/// memory of one training step and evaluation, 15 configurations; BadConfigTests checks the count):
/// a training process holds about 11 floats per parameter (values, gradients, momentum, the sign
/// caches, and the copies a checkpoint makes while it is written), and per image of the batch
/// every feature map with its gradient, and the modulated convolutions' kept GEMM output.
public struct ModelFootprint: Equatable {
    /// Latent parameters, the count `ModelSummary` reports.
    public var parameters: Double
    /// Floats of activations, gradients and caches per image of a training batch.
    public var activationFloatsPerImage: Double

    public init(_ config: ModelConfig) {
        let L = Double(config.layers), k = Double(config.k)
        var size = Double(config.imageSize)
        var a = Double(config.stemChannels)
        var p = a * Double(config.inChannels) * 9
        var pixels = size * size
        var act = (Double(config.inChannels) + 2 * a) * pixels
        var features = 0.0
        for (b, width) in config.widths.enumerated() {
            let c = Double(width)
            // 1x1 weights W_0i (c x a) and W_li (c x c); latent 3x3 filters (c/k x c x 3 x 3) and the M-filter.
            p += L * c * a + L * (L - 1) * c * c
            p += L * (c / k).rounded(.down) * c * 9 + k * 9
            // BatchNorms (γ, β) before each 1x1 (over its input) and each modulated 3x3, both stages.
            p += 2 * (L * a + c * L * (L - 1) / 2) + 2 * c * L          // Stage I
            p += 2 * L * (L - 1) * c + 2 * c * L                        // Stage II
            let f = a + L * c
            if config.compression {
                let half = (f / 2).rounded(.down)
                p += 2 * f + half * f + 2 * half
                features += half
            } else {
                p += 2 * f
                features += f
            }
            // Per layer use (2L): the 1x1 output and the modulated output, each with its gradient,
            // and the kept GEMM output (9·c/k rows); the pool's BatchNorm (and compression).
            act += 2 * L * (4 * c + 9 * (c / k).rounded(.down)) * pixels
            act += (config.compression ? 1.5 : 2) * f * pixels
            if b < config.widths.count - 1 {
                p += 2 * L * c + (L * c) * (L * c)
                act += 2 * L * c * pixels + 2 * L * c * pixels / 4
                a = L * c
                size /= 2
                pixels = size * size
            }
        }
        p += Double(config.classes) * features + 2 * Double(config.classes)
        parameters = p
        activationFloatsPerImage = act
    }

    /// Bytes of the parameters and everything kept per parameter while training.
    public var parameterBytes: Double { 4 * 11 * parameters }

    /// Bytes of the activations for a batch of `images` (plus the per-image scratch of the layers).
    public func activationBytes(images: Int) -> Double { 4 * activationFloatsPerImage * Double(images + 2) }
}
