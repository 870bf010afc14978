import Foundation

/// Reads one split of the configured dataset into memory, checking sizes, magics and labels.
/// Throws DataError naming the file and what was expected.
public func loadDataset(_ config: DataConfig, split: Split) throws -> Dataset {
    var dataset = try loadWholeSplit(config, split: split)
    let limit = split == .train ? config.trainLimit : config.testLimit
    if limit > 0, limit < dataset.count {
        dataset.images.removeSubrange((limit * dataset.imageSize)...)
        dataset.labels.removeSubrange(limit...)
    }
    return dataset
}

func loadWholeSplit(_ config: DataConfig, split: Split) throws -> Dataset {
    let directory = config.directory
    var isDirectory: ObjCBool = false
    if config.dataset != .synthetic,
       !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
        throw DataError("\(directory): no such directory; expected the \(config.dataset.rawValue) files in \(config.root)/\(config.dataset.folder) or \(config.root). Run launch/get-data.sh \(config.dataset.rawValue), or point data.root (--set data.root=DIR) at the files.")
    }
    switch config.dataset {
    case .mnist:
        return try MNIST.load(directory: directory, split: split)
    case .cifar10:
        return try CIFAR.loadCIFAR10(directory: directory, split: split)
    case .cifar100:
        return try CIFAR.loadCIFAR100(directory: directory, split: split, labels: config.cifar100Labels)
    case .svhn:
        return try SVHN.load(directory: directory, split: split, extra: config.svhnExtra)
    case .tinyImageNet:
        return try TinyImageNet.load(directory: directory, split: split, classes: config.classes,
                                     classSeed: config.classSeed)
    case .synthetic:
        return Synthetic.make(shape: config.syntheticShape, classes: config.classes ?? 10,
                              count: split == .train ? config.syntheticTrainCount : config.syntheticTestCount,
                              split: split)
    }
}
