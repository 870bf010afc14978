/// A labelled image set held as bytes: images (N, C, H, W) UInt8, labels Int32.
public struct Dataset {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var classes: Int
    public var images: [UInt8]
    public var labels: [Int32]
    public var count: Int { labels.count }

    public init(channels: Int, height: Int, width: Int, classes: Int, images: [UInt8], labels: [Int32]) {
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.images = images
        self.labels = labels
    }
}
