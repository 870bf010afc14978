import Foundation

/// The datasets the trainer reads.
public enum DatasetName: String, CaseIterable, Sendable {
    case mnist, cifar10, cifar100, svhn
    case tinyImageNet = "tiny-imagenet"
    case synthetic

    /// The folder under the data root that holds the files as the official archive unpacks them.
    public var folder: String {
        switch self {
        case .mnist: return "mnist"
        case .cifar10: return "cifar-10-batches-bin"
        case .cifar100: return "cifar-100-binary"
        case .svhn: return "svhn"
        case .tinyImageNet: return "tiny-imagenet-200"
        case .synthetic: return ""
        }
    }
}

/// Which CIFAR-100 label a record's image is trained on.
public enum CIFAR100Labels: String, CaseIterable, Sendable {
    case fine, coarse
}

/// The `data:` section of a run: which dataset, where its files are, and how batches are made.
public struct DataConfig: Equatable, Sendable {
    public var dataset: DatasetName = .mnist
    /// The data root; a dataset's files are in `root/<DatasetName.folder>` (or directly in `root`).
    public var root: String = "data"
    /// Random horizontal flip with p = 0.5 during training (the paper flips on every dataset).
    public var flip: Bool = true
    /// Zero padding before the random crop back to size; 0 turns cropping off.
    public var cropPadding: Int = 4
    /// Per-channel normalisation on the 0-1 scale; nil means computed from the training split.
    public var mean: [Double]? = nil
    public var std: [Double]? = nil
    public var cifar100Labels: CIFAR100Labels = .fine
    /// SVHN: append `extra_32x32.mat` to the training split.
    public var svhnExtra: Bool = false
    /// Tiny ImageNet: the number of classes drawn (nil = all 200); synthetic: the class count.
    public var classes: Int? = nil
    /// Tiny ImageNet: the seed of the class draw.
    public var classSeed: UInt64 = 0
    /// Synthetic: image shape (C, H, W) and the sizes of the two splits.
    public var syntheticShape: [Int] = [3, 32, 32]
    public var syntheticTrainCount: Int = 1024
    public var syntheticTestCount: Int = 256
    /// Images per evaluation batch on each rank.
    public var evalBatch: Int = 256
    /// Use only the first N samples of the training / test split (0 = all): quick experiments, tests.
    public var trainLimit: Int = 0
    public var testLimit: Int = 0

    public init() {}

    /// The training augmentation this config asks for (evaluation uses `Augmentation.none`).
    public var trainingAugmentation: Augmentation { Augmentation(flip: flip, padding: cropPadding) }

    /// The folder holding this dataset's files: `root/<folder>` when it exists, else `root`.
    public var directory: String {
        let nested = root + "/" + dataset.folder
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory), isDirectory.boolValue {
            return nested
        }
        return root
    }
}
