import CJPEG
import CZlib
import Foundation

/// An image file decoded to 8-bit samples, planar (channels, height, width): 1 channel for
/// grayscale, 3 for colour (RGB). An alpha channel is dropped.
public struct DecodedImage: Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let pixels: [UInt8]   // (C, H, W)

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The most pixels an image may declare (a damaged header must not make mbc allocate gigabytes).
    static let maxPixels = 1 << 26

    /// Reads a PNG or a JPEG, told apart by their signatures.
    public init(contentsOf path: String) throws {
        try self.init(bytes: try readFile(path, expecting: "a PNG or JPEG image"), path: path)
    }

    /// Decodes the bytes of a PNG or a JPEG; `path` names them in errors.
    public init(bytes: [UInt8], path: String) throws {
        if bytes.starts(with: PNG.signature) {
            self = try PNG.decode(bytes, path: path)
        } else if bytes.starts(with: [0xFF, 0xD8]) {
            self = try decodeJPEG(bytes, path: path, expecting: "a JPEG image")
        } else {
            throw DataError("\(path): not a PNG or JPEG file (its first bytes are neither signature); give a .png or .jpg image.")
        }
    }
}

/// Decodes a JPEG with libjpeg-turbo into planar RGB (grayscale is expanded to 3 equal channels);
/// `expecting` completes the error sentence. A header claiming more than `maxPixels` is refused.
func decodeJPEG(_ bytes: [UInt8], path: String, expecting: String, maxPixels: Int = DecodedImage.maxPixels) throws -> DecodedImage {
    // Without a frame header libjpeg finds no room and says what is wrong with the file.
    let (w, h) = jpegSize(bytes) ?? (0, 0)
    try checkSize(width: w, height: h, path: path, maxPixels: maxPixels)
    var rgb = [UInt8](repeating: 0, count: max(3 * w * h, 1))
    var width: Int32 = 0
    var height: Int32 = 0
    var message = [CChar](repeating: 0, count: 200)
    let status = bytes.withUnsafeBufferPointer { input in
        mbc_jpeg_decode_rgb(input.baseAddress, UInt(input.count), &rgb, rgb.count, &width, &height, &message, message.count)
    }
    guard status == 0, Int(width) == w, Int(height) == h, w > 0 else {
        throw DataError("\(path): does not decode as JPEG (\(String(cString: message))); expected \(expecting).")
    }
    let plane = w * h
    var planar = [UInt8](repeating: 0, count: 3 * plane)
    for p in 0..<plane {
        for c in 0..<3 { planar[c * plane + p] = rgb[3 * p + c] }
    }
    return DecodedImage(width: w, height: h, channels: 3, pixels: planar)
}

/// Refuses an image declaring more than `maxPixels` pixels (a product that overflows included).
func checkSize(width: Int, height: Int, path: String, maxPixels: Int = DecodedImage.maxPixels) throws {
    guard let pixels = checkedProduct([width, height]), pixels <= maxPixels else {
        throw DataError("\(path): the image declares \(width)x\(height) pixels, more than the \(maxPixels) mbc reads here; give a smaller image.")
    }
}

/// Width and height from a JPEG's first frame header (SOFn), or nil.
private func jpegSize(_ b: [UInt8]) -> (Int, Int)? {
    var i = 2
    while i + 9 < b.count {
        guard b[i] == 0xFF else { return nil }
        let marker = b[i + 1]
        if marker == 0xFF { i += 1; continue }   // fill byte
        let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
        // SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
        if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
            let h = Int(b[i + 5]) << 8 | Int(b[i + 6]), w = Int(b[i + 7]) << 8 | Int(b[i + 8])
            return w > 0 && h > 0 ? (w, h) : nil
        }
        i += 2 + length
    }
    return nil
}

/// PNG (ISO/IEC 15948, W3C "Portable Network Graphics Specification"): 8-bit grayscale, RGB,
/// palette, grayscale + alpha and RGBA, not interlaced. Chunk CRCs are checked.
enum PNG {
    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    static func decode(_ bytes: [UInt8], path: String) throws -> DecodedImage {
        func bad(_ what: String) -> DataError { DataError("\(path): \(what); it is not a readable PNG (truncated or damaged?).") }
        func u32(_ at: Int) -> Int { Int(bigEndianUInt32(bytes, at: at)) }
        var at = signature.count
        var header: (width: Int, height: Int, depth: UInt8, colour: UInt8, interlace: UInt8)?
        var palette: [UInt8] = []
        var compressed: [UInt8] = []
        var ended = false
        while !ended {
            guard at + 12 <= bytes.count else { throw bad("it ends inside a chunk header, before IEND") }
            let length = u32(at)
            guard length <= bytes.count - at - 12 else { throw bad("a chunk of \(length) bytes runs past the end of the file") }
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            let data = bytes[(at + 8)..<(at + 8 + length)]
            let crc = bytes[(at + 4)..<(at + 8 + length)].withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            guard crc == UInt(u32(at + 8 + length)) else { throw bad("chunk `\(type)` fails its CRC") }
            switch type {
            case "IHDR":
                guard length == 13 else { throw bad("its IHDR chunk is \(length) bytes, not 13") }
                let d = Array(data)
                header = (Int(bigEndianUInt32(d, at: 0)), Int(bigEndianUInt32(d, at: 4)), d[8], d[9], d[12])
            case "PLTE": palette = Array(data)
            case "IDAT": compressed += data
            case "IEND": ended = true
            default: break   // ancillary chunks (gamma, text, transparency...) do not change the samples read
            }
            at += 12 + length
        }
        guard let header, header.width > 0, header.height > 0 else { throw bad("it has no IHDR chunk with a size") }
        let channelsPerColour: [UInt8: Int] = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4]
        guard header.depth == 8, let samples = channelsPerColour[header.colour], header.interlace == 0 else {
            let what = header.interlace != 0 ? "interlaced" : "of bit depth \(header.depth) and colour type \(header.colour)"
            throw DataError("\(path): the PNG is \(what); mbc reads 8-bit, non-interlaced grayscale, RGB, palette, gray+alpha and RGBA PNGs. Convert it, e.g. `convert IN -depth 8 -interlace none OUT.png`.")
        }
        let (w, h) = (header.width, header.height)
        try checkSize(width: w, height: h, path: path)
        let stride = w * samples
        let raw = try compressed.withUnsafeBytes { try inflate($0, limit: h * (stride + 1), file: path) }
        guard raw.count == h * (stride + 1) else {
            throw bad("its image data inflates to \(raw.count) bytes, not the \(h * (stride + 1)) a \(w)x\(h) image needs")
        }
        let rows = try unfilter(raw, width: stride, height: h, bytesPerPixel: samples, bad: bad)
        let plane = w * h
        switch header.colour {
        case 3:
            var out = [UInt8](repeating: 0, count: 3 * plane)
            for p in 0..<plane {
                let entry = Int(rows[p])
                guard 3 * entry + 2 < palette.count else { throw bad("pixel \(p) uses palette entry \(entry), past its PLTE") }
                for c in 0..<3 { out[c * plane + p] = palette[3 * entry + c] }
            }
            return DecodedImage(width: w, height: h, channels: 3, pixels: out)
        default:
            let colours = samples >= 3 ? 3 : 1   // alpha (the last sample of types 4 and 6) is dropped
            var out = [UInt8](repeating: 0, count: colours * plane)
            for p in 0..<plane {
                for c in 0..<colours { out[c * plane + p] = rows[p * samples + c] }
            }
            return DecodedImage(width: w, height: h, channels: colours, pixels: out)
        }
    }

    /// Undoes the per-row filters (None, Sub, Up, Average, Paeth); returns the rows without their
    /// filter bytes.
    static func unfilter(_ raw: [UInt8], width: Int, height: Int, bytesPerPixel bpp: Int,
                         bad: (String) -> DataError) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            let filter = raw[y * (width + 1)], src = y * (width + 1) + 1, row = y * width
            for x in 0..<width {
                let v = raw[src + x]
                let a = x >= bpp ? Int(out[row + x - bpp]) : 0
                let b = y > 0 ? Int(out[row - width + x]) : 0
                let c = x >= bpp && y > 0 ? Int(out[row - width + x - bpp]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw bad("row \(y) has filter type \(filter); PNG defines 0-4")
                }
                out[row + x] = v &+ UInt8(truncatingIfNeeded: predicted)
            }
        }
        return out
    }
}
