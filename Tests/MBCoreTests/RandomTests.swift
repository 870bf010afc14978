import MBCore
import XCTest

final class RandomTests: XCTestCase {
    /// The published SplitMix64 streams of seeds 0 and 1234567.
    func testPublishedStreams() {
        var zero = SplitMix64(seed: 0)
        XCTAssertEqual((0..<3).map { _ in zero.next() }, [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4, 0x06c4_5d18_8009_454f])
        var other = SplitMix64(seed: 1_234_567)
        XCTAssertEqual((0..<5).map { _ in other.next() },
                       [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                        4_593_380_528_125_082_431, 16_408_922_859_458_223_821])
    }

    func testHashIsTheFirstOutputOfThatSeed() {
        for seed: UInt64 in [0, 1, 1_234_567, .max] {
            var generator = SplitMix64(seed: seed)
            XCTAssertEqual(SplitMix64.hash(seed), generator.next())
        }
    }
}
