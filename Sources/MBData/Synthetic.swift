/// Deterministic random images of any shape and class count, no files: image i of a split is a
/// function of (split, i) only.
enum Synthetic {
    static func make(shape: [Int], classes: Int, count: Int, split: Split) -> Dataset {
        let size = shape.reduce(1, *)
        let stream = counterHash(RandomPurpose.synthetic.rawValue, split == .train ? 1 : 2)
        var images = [UInt8](repeating: 0, count: count * size)
        images.withUnsafeMutableBytes { out in
            for i in 0..<count {
                let base = i * size
                var word = 0
                while word * 8 < size {
                    let bits = counterHash(stream, UInt64(i), UInt64(word)).littleEndian
                    withUnsafeBytes(of: bits) { b in
                        for k in 0..<min(8, size - word * 8) { out[base + word * 8 + k] = b[k] }
                    }
                    word += 1
                }
            }
        }
        let labels = (0..<count).map { Int32(bounded(counterHash(stream, UInt64($0), .max), classes)) }
        return Dataset(channels: shape[0], height: shape[1], width: shape[2], classes: classes,
                       images: images, labels: labels)
    }
}
