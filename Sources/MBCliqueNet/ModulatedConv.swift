import MBCore
import MBRowKernels

/// The latent filters of one modulated 3x3 conv, `C ∈ R^{(O/k)×C_in×3×3}`, laid out for the
/// factored route: `Bcat[t·O' + i, ch] = sign(C[i, ch, t])` (or `C` itself when unbinarized).
/// One per layer, shared by the layer's Stage-I and Stage-II uses: `prepare()` once per step,
/// the uses accumulate `dBcat`, `foldGradient()` adds it into dC once per backward.
public final class ModulatedFilter {
    public let latent: TensorRef
    public let filters: Int       // O' = O / k
    public let inChannels: Int
    public let binary: Bool
    public let bcat: WeightMatrix // (9·O', C_in)
    public let dBcat = Buffer()   // (9·O', C_in)

    public init(latent: TensorRef, filters: Int, inChannels: Int, binary: Bool) {
        self.latent = latent
        self.filters = filters
        self.inChannels = inChannels
        self.binary = binary
        bcat = WeightMatrix(rows: 9 * filters, columns: inChannels, binary: binary)
        dBcat.ensure(count: 9 * filters * inChannels)
    }

    private var preparedVersion: Int?   // the `WeightSource.version` bcat holds

    /// Rebuilds Bcat from the latent filters, unless `version` (the `WeightSource.version` of
    /// the parameters) says it holds them already, and zeroes dBcat.
    public func prepare(parameters: TensorStore, version: Int? = nil) {
        dBcat.zero()
        if let version, version == preparedVersion { return }
        preparedVersion = version
        let c = parameters.value(latent)
        for i in 0..<filters {
            for ch in 0..<inChannels {
                for t in 0..<9 {
                    let v = c[(i * inChannels + ch) * 9 + t]
                    bcat.values.pointer[(t * filters + i) * inChannels + ch] = binary ? (v >= 0 ? 1 : -1) : v
                }
            }
        }
        bcat.valuesChanged()
    }

    /// dC[i, ch, t] += dBcat[t·O' + i, ch] (identity straight-through estimator for sign).
    public func foldGradient(parameters: TensorStore) {
        let dc = parameters.gradient(latent)
        for i in 0..<filters {
            for ch in 0..<inChannels {
                for t in 0..<9 {
                    dc[(i * inChannels + ch) * 9 + t] += dBcat.pointer[(t * filters + i) * inChannels + ch]
                }
            }
        }
    }
}

/// One use of a modulated binary 3x3 conv (stride 1, pad 1), computed the factored way of
/// docs/MODEL.md section 6: `G = Bcat · X` (one GEMM per image, no im2col), then the masked
/// shift-and-weighted-sum `Y[i·k+j][p] = Σ_t M[j][t] · G[t·O'+i][p + δ_t]`.
/// Backward: `dG` by the transposed shift-sum, `dX = Bcatᵀ·dG`, `dBcat += dG·Xᵀ`, and
/// `dM[j][t] += Σ_i Σ_p dY[i·k+j][p] · G[t·O'+i][p + δ_t]` from the cached G.
///
/// The shifts run over whole flattened planes (`ModulatedTaps`).
public final class ModulatedConv {
    public let filter: ModulatedFilter
    public let mfilter: TensorRef   // (k, 3, 3), shared by the block
    public let k: Int
    public let output: Activation
    /// With a pre-activation BN-ReLU, the conv reads relu(BN(x)) image by image from its scratch
    /// matrix instead of x itself (and hands its input gradient back through it).
    public let preActivation: PreActivation?
    private let inputGradient = Buffer()   // (C_in, H·W) for one image, with a pre-activation
    private let g = Buffer()        // pad + (N, 9·O', H·W) + pad: the forward GEMM, kept for dM
    private let dg = Buffer()       // (9·O', H·W) for one image
    private let dyPadded = Buffer() // pad + (O, H·W) + pad: dY of one image
    private let taps: ModulatedTaps // the masks and offsets of the 9 taps
    private let pad: Int            // W + 1 floats before and after the padded buffers
    private var inputList: [Activation] = []   // [x] for the pre-activation, kept so a step allocates nothing

    public init(filter: ModulatedFilter, mfilter: TensorRef, k: Int, height: Int, width: Int,
                preActivation: PreActivation? = nil) {
        precondition(preActivation.map { $0.channels == filter.inChannels } ?? true)
        self.preActivation = preActivation
        self.filter = filter
        self.mfilter = mfilter
        self.k = k
        output = Activation(channels: filter.filters * k, height: height, width: width)
        taps = ModulatedTaps(height: height, width: width)
        pad = taps.padding
    }

    /// `[x]`, the pre-activation's input list, built once for the activation this conv reads.
    private func inputs(_ x: Activation) -> [Activation] {
        if inputList.count != 1 || inputList[0] !== x { inputList = [x] }
        return inputList
    }

    /// The conv's input for image `img`: x itself, or relu(BN(x)) recomputed into the scratch.
    private func source(_ x: Activation, image img: Int) -> UnsafePointer<Float> {
        if let preActivation { return UnsafePointer(preActivation.normalize(inputs(x), image: img)) }
        return UnsafePointer(x.value.pointer + img * x.perImage)
    }

    /// Training keeps every image's G for the backward's dM; evaluation (`training: false`)
    /// reuses one image's worth. With a pre-activation, `state` holds the BatchNorm statistics.
    public func forward(_ x: Activation, parameters: TensorStore, state: TensorStore? = nil, training: Bool = true) {
        precondition(x.c == filter.inChannels)
        if let preActivation {
            guard let state else { preconditionFailure("a pre-activated modulated conv needs the BatchNorm state store") }
            preActivation.prepare(inputs(x), parameters: parameters, state: state, training: training)
        }
        output.resize(batch: x.n)
        let hw = x.plane, rows = 9 * filter.filters, kept = training ? x.n : 1
        // Zero padding around the used part; reads into it are masked.
        g.ensure(count: kept * rows * hw + 2 * pad)
        (g.pointer + pad + kept * rows * hw).update(repeating: 0, count: pad)
        g.pointer.update(repeating: 0, count: pad)
        let m = parameters.value(mfilter)
        for img in 0..<x.n {
            let gi = g.pointer + pad + (training ? img : 0) * rows * hw
            filter.bcat.multiply(source(x, image: img), ldx: hw, count: hw, into: gi, ldy: hw)
            taps.shiftSum(g: gi, m: m, filters: filter.filters, k: k, into: output.value.pointer + img * output.perImage)
        }
    }

    /// Accumulates dX into `x.grad` (with a pre-activation, part of it deferred: see
    /// `PreActivation`), dBcat into the filter, dM into the M-filter's gradient. `gradientGEMM`
    /// computes dBcat's products, in its precision.
    public func backward(_ x: Activation, parameters: TensorStore, gradientGEMM: WeightGradientGEMM) {
        preActivation?.beginBackward()
        if preActivation != nil { inputGradient.ensure(count: x.perImage) }
        let hw = x.plane, of = filter.filters, rows = 9 * of, o = output.c
        dg.ensure(count: rows * hw)
        dyPadded.ensure(count: o * hw + 2 * pad)
        dyPadded.pointer.update(repeating: 0, count: pad)
        (dyPadded.pointer + pad + o * hw).update(repeating: 0, count: pad)
        let m = parameters.value(mfilter), dm = parameters.gradient(mfilter), mask = UnsafePointer(taps.masks.pointer)
        // dM's sums, 16 lanes per (t, j), kept across rows and images and added up at the end.
        var dmSums = [Float](repeating: 0, count: 9 * k * 16)
        let rowKernels = RowKernels.forThisCPU
        for img in 0..<x.n {
            let dy = dyPadded.pointer + pad
            dy.update(from: output.grad.pointer + img * output.perImage, count: o * hw)
            let gi = UnsafePointer(g.pointer + pad + img * rows * hw)
            for i in 0..<of {
                let dyi = UnsafePointer(dy + i * k * hw)
                for t in 0..<9 {
                    // dG_t[q] = mask_{8−t}[q] · Σ_j M[j][t] · dY_j[q − off_t]: the transposed shift.
                    // dM[j][t] += Σ_p dY_j[p] · mask_t[p] · G_t[p + off_t].
                    let off = taps.offset(t)
                    let gt = gi + (t * of + i) * hw + off
                    let maskT = mask + t * hw, maskBack = mask + (8 - t) * hw
                    let dgRow = dg.pointer + (t * of + i) * hw
                    let dyBack = dyi - off
                    dmSums.withUnsafeMutableBufferPointer { sums in
                        rowKernels.tapBackward(gt, maskT, maskBack, dgRow, dyBack, dyi, hw, k, m + t, sums.baseAddress! + 16 * t * k)
                    }
                }
            }
            let input = source(x, image: img)
            gradientGEMM.add(m: rows, n: x.c, k: hw, dy: dg.pointer, ldy: hw, x: input, ldx: hw,
                             into: filter.dBcat.pointer, ldw: x.c)
            if let preActivation {
                filter.bcat.multiplyTransposed(dg.pointer, ldx: hw, count: hw, into: inputGradient.pointer, ldy: hw)
                preActivation.accumulateInputGradient(inputs(x), image: img, from: inputGradient.pointer)
            } else {
                filter.bcat.multiplyTransposed(dg.pointer, ldx: hw, count: hw, accumulate: true,
                                               into: x.grad.pointer + img * x.perImage, ldy: hw)
            }
        }
        gradientGEMM.finish()
        preActivation?.finishBackward(inputs(x), parameters: parameters)
        for t in 0..<9 {
            for j in 0..<k {
                var sum: Float = 0
                for lane in 0..<16 { sum += dmSums[16 * (t * k + j) + lane] }
                dm[j * 9 + t] += sum
            }
        }
    }
}
