/// SVHN cropped digits (`*_32x32.mat`): `X` uint8 (32, 32, 3, N) column-major, `y` (N, 1) with
/// 10 meaning digit 0. Produces (N, 3, 32, 32) and labels 0-9.
enum SVHN {
    static func load(directory: String, split: Split, extra: Bool) throws -> Dataset {
        var names = split == .train ? ["train_32x32.mat"] : ["test_32x32.mat"]
        if split == .train && extra { names.append("extra_32x32.mat") }
        var result = try read(directory + "/" + names[0])
        for name in names.dropFirst() { result.append(try read(directory + "/" + name)) }
        return result
    }

    static func read(_ path: String) throws -> Dataset {
        try images(of: try MATFile(path: path), path: path)
    }

    /// The images and labels held by a MAT-file's `X` and `y`.
    static func images(of mat: MATFile, path: String) throws -> Dataset {
        let expected = "SVHN cropped digits: variables X (uint8, 32x32x3xN) and y (Nx1)"
        guard let x = mat.variables["X"], let y = mat.variables["y"] else {
            let missing = mat.variables["X"] == nil ? "X" : "y"
            throw DataError("\(path): no variable `\(missing)`; expected \(expected). Download the file again.")
        }
        guard x.arrayClass == 9, x.dataType == 2 else {
            throw DataError("\(path): variable `X` has class \(x.className); expected uint8 (\(expected)).")
        }
        guard x.dims.count == 4, x.dims[0] == 32, x.dims[1] == 32, x.dims[2] == 3 else {
            throw DataError("\(path): variable `X` has dimensions \(x.dims); expected [32, 32, 3, N] (\(expected)).")
        }
        let n = x.dims[3]
        guard x.data.count == n * 3072 else {
            throw DataError("\(path): variable `X` holds \(x.data.count) bytes; expected \(n * 3072) for \(n) images. The file is damaged; download it again.")
        }
        guard y.dims.count == 2, checkedProduct(y.dims) == n, let values = y.integers(), values.count == n else {
            throw DataError("\(path): variable `y` has dimensions \(y.dims) and class \(y.className); expected \(n)x1 numbers (\(expected)).")
        }
        if let bad = values.firstIndex(where: { $0 < 1 || $0 > 10 }) {
            throw DataError("\(path): y(\(bad + 1)) is \(values[bad]); expected 1...10 (10 is digit 0). Download the file again.")
        }
        var images = [UInt8](repeating: 0, count: n * 3072)
        images.withUnsafeMutableBufferPointer { out in
            x.data.withUnsafeBufferPointer { src in
                // src[row + 32 col + 1024 ch + 3072 i] -> out[3072 i + 1024 ch + 32 row + col]
                for plane in 0..<n * 3 {
                    let base = plane * 1024
                    for col in 0..<32 {
                        for row in 0..<32 {
                            out[base + row * 32 + col] = src[base + row + col * 32]
                        }
                    }
                }
            }
        }
        return Dataset(channels: 3, height: 32, width: 32, classes: 10, images: images,
                       labels: values.map { Int32($0 % 10) })
    }
}
