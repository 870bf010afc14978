// swift-tools-version:5.9
import PackageDescription

// Release builds skip Swift's exclusivity checks: the kernels loop over unsafe buffers held by
// final classes, and the dynamic checks cost more than the arithmetic there.
let fastSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

// The sign lookup-table kernels need 256-bit vectors, which the portable x86-64 baseline lacks:
// MBSignGEMM is built for Haswell-class CPUs (AVX2), MBSignGEMM512 inlines the same kernel built
// for Skylake-AVX512-class CPUs (AVX-512), and MBCore calls each only after checking the CPU
// (WeightMatrix.signTableKernels), so the binaries still run on any x86-64.
#if arch(x86_64)
let haswellSettings: [SwiftSetting] = fastSettings + [.unsafeFlags(["-target-cpu", "haswell"])]
let avx512Settings: [SwiftSetting] = fastSettings + [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let haswellSettings: [SwiftSetting] = fastSettings
let avx512Settings: [SwiftSetting] = fastSettings
#endif

let package = Package(
    name: "mbc",
    products: [
        .executable(name: "mbc-train", targets: ["mbc-train"]),
        .executable(name: "mbc-bench", targets: ["mbc-bench"]),
        // The readers' modules, for the fuzz targets in fuzz/ (a package of its own, built only by
        // launch/fuzz.sh, so that `swift build` and `swift test` here never compile libFuzzer).
        .library(name: "MBData", targets: ["MBData"]),
        .library(name: "MBCore", targets: ["MBCore"]),
        .library(name: "MBTrain", targets: ["MBTrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // System-library shims: a module map and a short header each.
        // OpenBLAS is loaded at run time (MBCore's OpenBLAS, after choosing its kernels), not linked.
        .systemLibrary(name: "COpenBLAS"),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSystem"),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        // The bf16 weight-gradient kernel (AVX512-BF16 intrinsics; its functions carry their own
        // target attribute, so the module builds for any x86-64 and runs only after a CPUID check).
        .target(name: "CBF16"),

        // What every target shares: the one-message error shape, the FNV-1a hash, the console table.
        .target(name: "MBBase"),
        .target(name: "MBSignGEMM", swiftSettings: haswellSettings),
        .target(name: "MBSignGEMM512", dependencies: ["MBSignGEMM"], swiftSettings: avx512Settings),
        // The row loops of BatchNorm and its relatives: one source, built portable, for AVX2 and for AVX-512.
        .target(name: "MBRowKernels", swiftSettings: fastSettings),
        .target(name: "MBRowKernelsAVX2", dependencies: ["MBRowKernels"], swiftSettings: haswellSettings),
        .target(name: "MBRowKernelsAVX512", dependencies: ["MBRowKernels"], swiftSettings: avx512Settings),
        .target(name: "MBCore", dependencies: ["MBBase", "COpenBLAS", "CSystem", "CBF16", "MBSignGEMM", "MBSignGEMM512",
                                               "MBRowKernels", "MBRowKernelsAVX2", "MBRowKernelsAVX512"], swiftSettings: fastSettings),
        .target(name: "MBCliqueNet", dependencies: ["MBBase", "MBCore", "MBRowKernels"], swiftSettings: fastSettings),
        .target(name: "MBData", dependencies: ["MBBase", "MBCore", "CZlib", "CJPEG"], swiftSettings: fastSettings),
        .target(name: "MBDistributed", dependencies: ["MBBase", "CMPI", "CSystem", "MBCore"], swiftSettings: fastSettings),
        .target(name: "MBTrain",
                dependencies: ["MBBase", "MBCore", "MBCliqueNet", "MBData", "MBDistributed",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: fastSettings),
        // The exported 1-bit model: its format, the export from a checkpoint, inference from the file alone.
        .target(name: "MBDeploy", dependencies: ["MBBase", "MBCore", "MBCliqueNet", "MBData", "MBTrain"], swiftSettings: fastSettings),
        .executableTarget(name: "mbc-train",
                          dependencies: ["MBBase", "MBData", "MBTrain", "MBDistributed", "MBDeploy",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "mbc-bench", dependencies: ["MBBase", "MBRowKernels", "MBCore", "MBCliqueNet", "MBData", "MBTrain", "MBDistributed", "MBDeploy",
                                                          .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: fastSettings),

        // Test targets mirror the source targets: XTests checks target X, and mbc-trainTests and
        // mbc-benchTests run the built executables as users do. MBTestSupport holds what they share
        // (the process runner, finite differences, temporary directories); it is not shipped.
        .target(name: "MBTestSupport", dependencies: ["MBBase", "MBCore"], path: "Tests/MBTestSupport"),
        .testTarget(name: "MBBaseTests", dependencies: ["MBBase"]),
        .testTarget(name: "MBRowKernelsTests", dependencies: ["MBRowKernels", "MBCore"]),
        .testTarget(name: "MBSignGEMMTests", dependencies: ["MBSignGEMM", "MBSignGEMM512", "MBCore"]),
        .testTarget(name: "MBCoreTests", dependencies: ["MBCore", "CBF16", "MBTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "MBCliqueNetTests", dependencies: ["MBCliqueNet", "MBTrain", "MBTestSupport"],
                    exclude: ["Fixtures"]),
        // Fixtures are read through #filePath (Tests/MBDataTests/Fixtures, made by make_fixtures.py).
        .testTarget(name: "MBDataTests", dependencies: ["MBData", "MBTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "MBDistributedTests", dependencies: ["MBDistributed", "MBCore"]),
        .testTarget(name: "MBTrainTests", dependencies: ["MBTrain", "MBDistributed", "MBTestSupport"], exclude: ["Fixtures"]),
        // Fixtures are read through #filePath (Tests/MBDeployTests/Fixtures, made by make_images.py).
        .testTarget(name: "MBDeployTests", dependencies: ["MBDeploy", "MBTrain", "MBCliqueNet", "MBData", "MBDistributed", "MBTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "mbc-trainTests", dependencies: ["MBTrain", "MBCore", "MBTestSupport"]),
        .testTarget(name: "mbc-benchTests", dependencies: ["MBTestSupport"]),
    ]
)
