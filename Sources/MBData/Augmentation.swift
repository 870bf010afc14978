import MBCore

/// The paper's training augmentation: horizontal flip with p = 0.5, and zero-pad by `padding`
/// then crop a random window back to the original size.
public struct Augmentation: Equatable, Sendable {
    public var flip: Bool
    public var padding: Int

    public init(flip: Bool, padding: Int) {
        self.flip = flip
        self.padding = padding
    }

    /// No augmentation (evaluation).
    public static let none = Augmentation(flip: false, padding: 0)

    /// What one sample gets: a pure function of (seed, epoch, sample index).
    public struct Choice: Equatable, Sendable {
        public var flipped: Bool
        /// Shift of the crop window relative to the image, each in -padding...padding:
        /// output (y, x) = input (y + dy, x + dx), zero outside.
        public var dy: Int
        public var dx: Int
    }

    public func choice(seed: UInt64, epoch: Int, sample: Int) -> Choice {
        let bits = counterHash(RandomPurpose.augmentation.rawValue, seed, UInt64(epoch), UInt64(sample))
        let span = 2 * padding + 1
        return Choice(flipped: flip && bits & 1 == 1,
                      dy: bounded(bits >> 1 | bits << 63, span) - padding,
                      dx: bounded(SplitMix64.hash(bits), span) - padding)
    }
}

/// Writes normalised, augmented Float32 batches (n, C, H, W) from a byte dataset.
public struct BatchWriter: Sendable {
    public let dataset: Dataset
    public let normalization: Normalization
    public let augmentation: Augmentation
    private let table: [Float]   // (C, 256)

    public init(dataset: Dataset, normalization: Normalization, augmentation: Augmentation) {
        precondition(normalization.mean.count == dataset.channels, "one mean per channel")
        self.dataset = dataset
        self.normalization = normalization
        self.augmentation = augmentation
        table = normalization.table()
    }

    /// Floats per image.
    public var imageSize: Int { dataset.imageSize }

    /// Writes samples `indices` (augmented for `epoch` with `seed`) into `images` (n, C, H, W)
    /// and their labels into `labels`.
    public func write(indices: some Collection<Int>, epoch: Int, seed: UInt64,
                      images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) {
        for (slot, sample) in indices.enumerated() {
            let choice = augmentation.choice(seed: seed, epoch: epoch, sample: sample)
            writeImage(sample, choice, into: images + slot * imageSize)
            labels[slot] = dataset.labels[sample]
        }
    }

    private func writeImage(_ sample: Int, _ choice: Augmentation.Choice, into out: UnsafeMutablePointer<Float>) {
        let (h, w) = (dataset.height, dataset.width)
        // Columns x of the output read input column x + dx (of the flipped image when flipped).
        let x0 = max(0, -choice.dx), x1 = min(w, w - choice.dx)
        dataset.images.withUnsafeBufferPointer { bytes in
            table.withUnsafeBufferPointer { lut in
                for c in 0..<dataset.channels {
                    let levels = lut.baseAddress! + c * 256
                    let zero = levels[0]
                    let plane = bytes.baseAddress! + (sample * dataset.channels + c) * h * w
                    for y in 0..<h {
                        let row = out + (c * h + y) * w
                        let sy = y + choice.dy
                        guard sy >= 0, sy < h, x0 < x1 else {
                            row.update(repeating: zero, count: w)
                            continue
                        }
                        row.update(repeating: zero, count: x0)
                        (row + x1).update(repeating: zero, count: w - x1)
                        let source = plane + sy * w
                        if choice.flipped {
                            for x in x0..<x1 { row[x] = levels[Int(source[w - 1 - (x + choice.dx)])] }
                        } else {
                            for x in x0..<x1 { row[x] = levels[Int(source[x + choice.dx])] }
                        }
                    }
                }
            }
        }
    }
}
