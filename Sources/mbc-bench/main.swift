switch CommandLine.arguments.dropFirst().first {
case "loader":
    try runLoaderBenchmark()
default:
    print("usage: mbc-bench loader")
}
