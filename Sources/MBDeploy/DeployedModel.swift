import MBCliqueNet
import MBCore

/// Inference from an exported model alone. Binary products run on sign lookup tables built
/// straight from the packed bits (`WeightMatrix(rows:columns:signs:)`: no float weight matrix
/// on CPUs with the tables); BatchNorms are the file's per-channel (scale; shift). Images run one
/// at a time through the whole network, so the working set is one image's feature maps.
public final class DeployedModel {
    public let exported: ExportedModel
    public var config: ModelConfig { exported.config }
    private let stem: WeightMatrix            // (stem, 9·C_in)
    private let blocks: [Block]
    private let transitions: [Transition]
    private let pools: [Pool]
    private let head: WeightMatrix            // (classes, D)
    private let headNorm: [Float]             // (2, classes)
    private let input: Activation             // one image (C, H, W)
    private let columns: Buffer               // im2col of the image (9·C, H·W)
    private let scratch: Buffer               // a pre-activation's output (fan-in, H·W)
    private let pooled: Activation            // one image's feature vector (D)
    private let features = Buffer()           // (D, N): the batch's feature vectors as columns
    private let products = Buffer()           // (classes, N)
    private let logits = Buffer()             // (N, classes)

    public init(_ exported: ExportedModel) {
        self.exported = exported
        let config = exported.config, layout = exported.layout, t = exported.tensors
        func floats(_ name: String) -> [Float] { t[name]!.floats! }
        /// Weight `w` as a (rows × columns) matrix whose entry (r, c) is element index(r, c) of w.
        func matrix(_ w: ExportLayout.Weight, rows: Int, columns: Int, _ index: (Int, Int) -> Int) -> WeightMatrix {
            switch w.kind {
            case .signs:
                let bits = t[w.tensorName]!.bytes
                return WeightMatrix(rows: rows, columns: columns) { r, c in
                    let i = index(r, c)
                    return bits[i >> 3] & (1 << UInt8(i & 7)) != 0
                }
            case .float:
                let values = floats(w.tensorName)
                let m = WeightMatrix(rows: rows, columns: columns, binary: false)
                for r in 0..<rows {
                    for c in 0..<columns { m.values.pointer[r * columns + c] = values[index(r, c)] }
                }
                return m
            }
        }
        func plain(_ w: ExportLayout.Weight) -> WeightMatrix {
            let columns = w.count / w.shape[0]
            return matrix(w, rows: w.shape[0], columns: columns) { r, c in r * columns + c }
        }
        let size = config.imageSize
        input = Activation(channels: config.inChannels, height: size, width: size)
        input.resize(batch: 1)
        columns = Buffer(count: 9 * config.inChannels * size * size)
        stem = plain(layout.stem)
        var blocks: [Block] = [], transitions: [Transition] = [], pools: [Pool] = []
        var x0 = Activation(channels: config.stemChannels, height: size, width: size)
        var scratchSize = 0
        for (b, c) in config.widths.enumerated() {
            let side = layout.side(block: b), L = config.layers, of = c / config.k
            let full = layout.conv1x1(block: b), fullColumns = full.shape[2]
            var uses: [[Use]] = []
            for stage in 1...2 {
                uses.append((1...L).map { i in
                    let first = layout.firstColumn(block: b, stage: stage), fanIn = layout.fanIn(block: b, stage: stage, layer: i)
                    scratchSize = max(scratchSize, fanIn * side * side)
                    return Use(weight: matrix(full, rows: c, columns: fanIn) { r, col in ((i - 1) * c + r) * fullColumns + first + col },
                               bn1Offset: layout.bn1Offset(block: b, stage: stage, layer: i),
                               output: Activation(channels: c, height: side, width: side))
                })
            }
            let conv3x3 = layout.conv3x3(block: b)
            // Bcat[t·O' + i, ch] = C[layer, i, ch, t] (the factored route of ModulatedConv).
            let bcat = (0..<L).map { layer in
                matrix(conv3x3, rows: 9 * of, columns: c) { row, ch in ((layer * of + row % of) * c + ch) * 9 + row / of }
            }
            let block = Block(input: x0, width: c, filters: of, k: config.k, side: side, uses: uses, bcat: bcat,
                              bn1: floats(layout.bn1(block: b).name), bn2: floats(layout.bn2(block: b).name),
                              mfilter: floats(layout.mfilter(block: b)))
            blocks.append(block)
            let f = layout.poolInput(block: b)
            scratchSize = max(scratchSize, f * side * side)
            pools.append(Pool(parts: [x0] + block.uses[1].map(\.output), side: side,
                              compression: config.compression ? plain(layout.compressConv(b)) : nil,
                              compressNorm: config.compression ? floats(layout.compressNorm(b).name) : [],
                              norm: floats(layout.poolNorm(b).name), channels: layout.poolOutput(block: b)))
            if b < config.widths.count - 1 {
                let transition = Transition(parts: block.uses[1].map(\.output), side: side, conv: plain(layout.transitionConv(b)),
                                            norm: floats(layout.transitionNorm(b).name))
                transitions.append(transition)
                x0 = transition.pool.output
            }
        }
        self.blocks = blocks
        self.transitions = transitions
        self.pools = pools
        scratch = Buffer(count: scratchSize)
        pooled = Activation(channels: layout.features, height: 1, width: 1)
        pooled.resize(batch: 1)
        head = plain(layout.head)
        headNorm = floats(layout.headNorm.name)
    }

    /// The logits (N, classes) of `images` (N, C, H, W), normalized as in training; valid until
    /// the next call.
    public func forward(images: UnsafePointer<Float>, count n: Int) -> UnsafePointer<Float> {
        let d = pooled.c, classes = config.classes
        features.ensure(count: d * n)
        products.ensure(count: classes * n)
        logits.ensure(count: classes * n)
        for img in 0..<n {
            input.value.pointer.update(from: images + img * input.perImage, count: input.perImage)
            let x0 = blocks[0].input
            im2col(input.value.pointer, channels: input.c, height: input.h, width: input.w, into: columns.pointer)
            x0.resize(batch: 1)
            stem.multiply(columns.pointer, ldx: x0.plane, count: x0.plane, into: x0.value.pointer, ldy: x0.plane)
            var offset = 0
            for (b, block) in blocks.enumerated() {
                block.forward(scratch: scratch)
                pools[b].forward(scratch: scratch, into: pooled, offset: offset)
                offset += pools[b].channels
                if b < transitions.count { transitions[b].forward(scratch: scratch) }
            }
            for ch in 0..<d { features.pointer[ch * n + img] = pooled.value.pointer[ch] }
        }
        head.multiply(features.pointer, ldx: n, count: n, into: products.pointer, ldy: n)
        for img in 0..<n {
            for j in 0..<classes {
                logits.pointer[img * classes + j] = headNorm[j] * products.pointer[j * n + img] + headNorm[classes + j]
            }
        }
        return UnsafePointer(logits.pointer)
    }
}

/// relu(scale·x + shift) of the parts of a channel concatenation into `into` (ΣC_p, H·W), with
/// (scale; shift) rows of `norm` starting at `offset` (the other row `rowLength` further on).
private func preActivate(_ parts: [Activation], norm: UnsafePointer<Float>, offset: Int, rowLength: Int,
                         into out: UnsafeMutablePointer<Float>) {
    var row = 0
    for x in parts {
        let hw = x.plane
        for ch in 0..<x.c {
            let r = offset + row + ch
            affine(x.value.pointer + ch * hw, into: out + (row + ch) * hw, count: hw, mean: 0,
                   scale: norm[r], shift: norm[rowLength + r], relu: true)
        }
        row += x.c
    }
}

/// One 1x1 use of a clique layer: its columns of the layer's weight, where its pre-activation
/// starts in `bn1`, and the layer's output (the modulated conv's).
private struct Use {
    let weight: WeightMatrix
    let bn1Offset: Int
    let output: Activation
}

private final class Block {
    let input: Activation
    let width: Int
    let filters: Int
    let k: Int
    let uses: [[Use]]          // [stage][layer]
    let bcat: [WeightMatrix]   // per layer (9·O', c)
    let bn1: [Float]           // (2, N)
    let bn2: [Float]           // (2, 2, L, c)
    let mfilter: [Float]       // (k, 9)
    let taps: ModulatedTaps
    let squeezed: Buffer       // one use's 1x1 output (c, H·W)
    let g: Buffer              // pad + (9·O', H·W) + pad, zero padding
    private let inputs: [[[Activation]]]   // [stage][layer]: the parts each use reads

    init(input: Activation, width c: Int, filters: Int, k: Int, side: Int, uses: [[Use]], bcat: [WeightMatrix],
         bn1: [Float], bn2: [Float], mfilter: [Float]) {
        self.input = input
        width = c
        self.filters = filters
        self.k = k
        self.uses = uses
        self.bcat = bcat
        self.bn1 = bn1
        self.bn2 = bn2
        self.mfilter = mfilter
        taps = ModulatedTaps(height: side, width: side)
        squeezed = Buffer(count: c * side * side)
        g = Buffer(count: 9 * filters * side * side + 2 * taps.padding)
        let L = uses[0].count
        // Stage-I layer i reads [X0, X1..X(i-1)]; Stage-II layer i every other layer, ascending, newest version.
        inputs = [(1...L).map { i in [input] + uses[0][0..<(i - 1)].map(\.output) },
                  (1...L).map { i in (1...L).filter { $0 != i }.map { l in uses[l < i ? 1 : 0][l - 1].output } }]
        for stage in uses { for use in stage { use.output.resize(batch: 1) } }
    }

    func forward(scratch: Buffer) {
        let hw = input.plane, L = uses[0].count
        let rowLength = bn1.count / 2, bn2Row = bn2.count / 2
        for stage in 0..<2 {
            for i in 0..<L {
                let use = uses[stage][i]
                preActivate(inputs[stage][i], norm: bn1, offset: use.bn1Offset, rowLength: rowLength, into: scratch.pointer)
                use.weight.multiply(scratch.pointer, ldx: hw, count: hw, into: squeezed.pointer, ldy: hw)
                for ch in 0..<width {
                    let r = (stage * L + i) * width + ch
                    affine(squeezed.pointer + ch * hw, into: squeezed.pointer + ch * hw, count: hw, mean: 0,
                           scale: bn2[r], shift: bn2[bn2Row + r], relu: true)
                }
                let gi = g.pointer + taps.padding
                bcat[i].multiply(squeezed.pointer, ldx: hw, count: hw, into: gi, ldy: hw)
                taps.shiftSum(g: gi, m: mfilter, filters: filters, k: k, into: use.output.value.pointer)
            }
        }
    }
}

/// BN-ReLU over Stage-II → 1x1 conv → 2x2 average pool (the next block's X0, without the conv's α).
private final class Transition {
    let parts: [Activation]
    let conv: WeightMatrix
    let norm: [Float]
    let product: Activation
    let pool: AveragePool2x2

    init(parts: [Activation], side: Int, conv: WeightMatrix, norm: [Float]) {
        self.parts = parts
        self.conv = conv
        self.norm = norm
        product = Activation(channels: conv.rows, height: side, width: side)
        product.resize(batch: 1)
        pool = AveragePool2x2(channels: conv.rows, inputHeight: side, inputWidth: side)
    }

    func forward(scratch: Buffer) {
        let hw = product.plane
        preActivate(parts, norm: norm, offset: 0, rowLength: norm.count / 2, into: scratch.pointer)
        conv.multiply(scratch.pointer, ldx: hw, count: hw, into: product.value.pointer, ldy: hw)
        pool.forward(product)
    }
}

/// F = [X0, Stage-II] → (BN-ReLU → 1x1 compression, its BatchNorm folded in) → ReLU → global
/// average pool into the block's slice of the feature vector.
private final class Pool {
    let parts: [Activation]
    let compression: WeightMatrix?
    let compressNorm: [Float]
    let norm: [Float]
    let channels: Int
    let output: Activation   // what is pooled: relu(BN(F)), or the compression's relu(scale·P + shift)

    init(parts: [Activation], side: Int, compression: WeightMatrix?, compressNorm: [Float], norm: [Float], channels: Int) {
        self.parts = parts
        self.compression = compression
        self.compressNorm = compressNorm
        self.norm = norm
        self.channels = channels
        output = Activation(channels: channels, height: side, width: side)
        output.resize(batch: 1)
    }

    func forward(scratch: Buffer, into pooled: Activation, offset: Int) {
        let hw = output.plane
        if let compression {
            preActivate(parts, norm: compressNorm, offset: 0, rowLength: compressNorm.count / 2, into: scratch.pointer)
            compression.multiply(scratch.pointer, ldx: hw, count: hw, into: output.value.pointer, ldy: hw)
            for ch in 0..<channels {
                let p = output.value.pointer + ch * hw
                affine(p, into: p, count: hw, mean: 0, scale: norm[ch], shift: norm[channels + ch], relu: true)
            }
        } else {
            preActivate(parts, norm: norm, offset: 0, rowLength: channels, into: output.value.pointer)
        }
        GlobalAveragePool(channelOffset: offset).forward(output, into: pooled)
    }
}
