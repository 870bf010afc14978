import Foundation
import MBCore
import MBData

extension ExportedModel {
    /// The image's samples as the model's input bytes (C, H, W), converted as training reads its
    /// data: a grayscale image becomes 3 equal channels for an RGB model (as Tiny ImageNet's
    /// grayscale JPEGs do), and an RGB image whose channels are all equal (a grayscale image
    /// saved as colour, e.g. any grayscale JPEG here) becomes 1 channel for a grayscale model.
    /// A colour image for a grayscale model, or an image of another size, is refused: mbc does
    /// not resize.
    public func inputBytes(_ image: DecodedImage, path: String) throws -> [UInt8] {
        let side = config.imageSize, c = config.inChannels
        guard image.width == side, image.height == side else {
            throw ExportError("`\(path)`: image is \(image.width)x\(image.height); the model takes \(side)x\(side) images. Resize it first (e.g. `convert IN -resize \(side)x\(side)! OUT.png`); mbc does not resize.")
        }
        if image.channels == c { return image.pixels }
        let plane = side * side
        if image.channels == 1 && c == 3 { return image.pixels + image.pixels + image.pixels }
        if image.channels == 3 && c == 1 {
            let (r, g, b) = (image.pixels[0..<plane], image.pixels[plane..<2 * plane], image.pixels[(2 * plane)...])
            if r.elementsEqual(g) && r.elementsEqual(b) { return Array(r) }
            throw ExportError("`\(path)`: image is in colour (RGB); the model takes grayscale (1-channel) images. Convert it first (e.g. `convert IN -colorspace Gray OUT.png`).")
        }
        throw ExportError("`\(path)`: image has \(image.channels) channels; the model takes \(c).")
    }
}

/// One image's most probable classes.
public struct Prediction {
    public struct Entry {
        public let index: Int
        public let name: String
        public let probability: Double
    }
    public let top: [Entry]
}

extension DeployedModel {
    /// The `top` most probable classes (softmax of the logits) of each image, given as the
    /// model's input bytes (C, H, W) and normalized as in training.
    public func predict(_ images: [[UInt8]], top: Int) -> [Prediction] {
        let side = config.imageSize, classes = config.classes
        let dataset = Dataset(channels: config.inChannels, height: side, width: side, classes: classes,
                              images: images.flatMap { $0 }, labels: [Int32](repeating: 0, count: images.count))
        let writer = BatchWriter(dataset: dataset, normalization: exported.normalization, augmentation: .none)
        let input = Buffer(count: images.count * writer.imageSize)
        var labels = [Int32](repeating: 0, count: images.count)
        labels.withUnsafeMutableBufferPointer { writer.write(indices: 0..<images.count, epoch: 0, seed: 0, images: input.pointer, labels: $0.baseAddress!) }
        let logits = forward(images: input.pointer, count: images.count)
        return (0..<images.count).map { img in
            let z = (0..<classes).map { Double(logits[img * classes + $0]) }
            let zmax = z.max()!
            let e = z.map { exp($0 - zmax) }, sum = e.reduce(0, +)
            let order = (0..<classes).sorted { e[$0] != e[$1] ? e[$0] > e[$1] : $0 < $1 }
            return Prediction(top: order.prefix(top).map {
                Prediction.Entry(index: $0, name: exported.classNames[$0], probability: e[$0] / sum)
            })
        }
    }
}
