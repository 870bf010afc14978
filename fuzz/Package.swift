// swift-tools-version:5.9
import PackageDescription

// libFuzzer targets for mbc's byte-level readers. A package of its own so that the root package's
// `swift build` and `swift test` never compile them; built and run by launch/fuzz.sh with
// `swift build --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing`, which instruments
// the root package's modules too (coverage for libFuzzer, ASan for memory errors) and lets the
// targets reach the readers' internal entry points through `@testable import`.
// Each target defines LLVMFuzzerTestOneInput; with --sanitize=fuzzer SwiftPM compiles executables
// as libraries and links libFuzzer's main.

// The root package's identity is its folder's name (main, a worktree, a CI checkout).
import Foundation
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let mbc = root.lastPathComponent

func fuzzTarget(_ name: String, _ products: [String]) -> Target {
    .executableTarget(name: name,
                      dependencies: products.map { .product(name: $0, package: mbc) })
}

let package = Package(
    name: "mbc-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        fuzzTarget("fuzz-idx", ["MBData"]),
        fuzzTarget("fuzz-cifar", ["MBData"]),
        fuzzTarget("fuzz-mat", ["MBData"]),
        fuzzTarget("fuzz-jpeg-folder", ["MBData"]),
        fuzzTarget("fuzz-safetensors", ["MBCore"]),
        fuzzTarget("fuzz-yaml-config", ["MBTrain"]),
    ]
)
