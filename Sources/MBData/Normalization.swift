/// Per-channel statistics of raw bytes (0-255 scale), the basis of normalisation and of
/// `inspect-data`.
public struct ChannelStatistics: Equatable, Sendable {
    public var count: Int
    public var pixelSum: UInt64
    public var channelMean: [Double]   // 0-255 scale
    public var channelStd: [Double]    // 0-255 scale, population
    public var labelHistogram: [Int]   // indexed by label

    public init(_ dataset: Dataset) {
        let plane = dataset.height * dataset.width
        var sums = [UInt64](repeating: 0, count: dataset.channels)
        var squares = [UInt64](repeating: 0, count: dataset.channels)
        dataset.images.withUnsafeBufferPointer { px in
            for i in 0..<dataset.count {
                for c in 0..<dataset.channels {
                    let start = (i * dataset.channels + c) * plane
                    var s: UInt64 = 0
                    var q: UInt64 = 0
                    for p in start..<start + plane {
                        let v = UInt64(px[p])
                        s &+= v
                        q &+= v * v
                    }
                    sums[c] &+= s
                    squares[c] &+= q
                }
            }
        }
        let n = Double(max(dataset.count * plane, 1))
        count = dataset.count
        pixelSum = sums.reduce(0, +)
        channelMean = sums.map { Double($0) / n }
        channelStd = zip(sums, squares).map { s, q in
            let mean = Double(s) / n
            return (max(Double(q) / n - mean * mean, 0)).squareRoot()
        }
        labelHistogram = [Int](repeating: 0, count: dataset.classes)
        for l in dataset.labels { labelHistogram[Int(l)] += 1 }
    }
}

/// x -> (x / 255 - mean[c]) / std[c], per channel; mean and std on the 0-1 scale.
public struct Normalization: Equatable, Sendable {
    public var mean: [Double]
    public var std: [Double]

    public init(mean: [Double], std: [Double]) {
        self.mean = mean
        self.std = std
    }

    /// The statistics of a training split; a constant channel gets std 1 rather than 0.
    public init(trainingSet: Dataset) {
        let stats = ChannelStatistics(trainingSet)
        mean = stats.channelMean.map { $0 / 255 }
        std = stats.channelStd.map { $0 > 0 ? $0 / 255 : 1 }
    }

    /// The configured mean/std when given, else computed from `trainingSet`. Checks the
    /// channel count against the data.
    public init(config: DataConfig, trainingSet: Dataset) throws {
        guard let mean = config.mean, let std = config.std else {
            self.init(trainingSet: trainingSet)
            return
        }
        guard mean.count == trainingSet.channels, std.count == trainingSet.channels else {
            throw DataError("data.mean has \(mean.count) and data.std \(std.count) values; the \(config.dataset.rawValue) images have \(trainingSet.channels) channels. Give one value per channel (0-1 scale).")
        }
        self.init(mean: mean, std: std)
    }

    /// 256 floats per channel: the normalised value of every byte.
    func table() -> [Float] {
        var t = [Float](repeating: 0, count: 256 * mean.count)
        for c in 0..<mean.count {
            for b in 0..<256 { t[c * 256 + b] = Float((Double(b) / 255 - mean[c]) / std[c]) }
        }
        return t
    }
}
