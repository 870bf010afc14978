/// Which part of a dataset to read. Tiny ImageNet's `test` is its labelled `val` folder.
public enum Split: String, CaseIterable, Sendable {
    case train, test
}

/// A labelled image set held as bytes: images (N, C, H, W) UInt8, labels Int32 in 0..<classes.
public struct Dataset: Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var classes: Int
    public var images: [UInt8]  // (N, C, H, W)
    public var labels: [Int32]  // (N)
    /// Class names in label order when the files name them (Tiny ImageNet wnids), else empty.
    public var classNames: [String]
    public var count: Int { labels.count }
    public var imageSize: Int { channels * height * width }

    public init(channels: Int, height: Int, width: Int, classes: Int, images: [UInt8], labels: [Int32],
                classNames: [String] = []) {
        precondition(images.count == labels.count * channels * height * width, "images and labels disagree")
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.images = images
        self.labels = labels
        self.classNames = classNames
    }

    /// Appends `other`, which must have the same image shape and classes.
    mutating func append(_ other: Dataset) {
        precondition(other.imageSize == imageSize && other.classes == classes, "appending a different shape")
        images += other.images
        labels += other.labels
    }
}

/// Throws when a label is outside 0..<classes, naming the file and the record.
func checkLabels(_ labels: [Int32], classes: Int, file: String, firstRecord: Int = 0) throws {
    if let i = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
        throw DataError("\(file): record \(firstRecord + i) has label \(labels[i]); expected 0...\(classes - 1). The file is damaged or not this dataset; download it again.")
    }
}
