import MBCore

/// Counter-based randomness: every random number the data pipeline uses is a pure function of
/// its coordinates (seed, purpose, epoch, index, ...), so no generator state is shared or saved.

/// A hash of a list of coordinates (order matters).
@inline(__always)
func counterHash(_ coordinates: UInt64...) -> UInt64 {
    coordinates.reduce(0x6A09_E667_F3BC_C908) { SplitMix64.hash($0 ^ SplitMix64.hash($1)) }
}

/// What a stream of random numbers is used for; keeps streams of the same seed independent.
enum RandomPurpose: UInt64 {
    case epochOrder = 1, augmentation, classDraw, synthetic
}

/// An integer in 0..<bound from 64 random bits (multiply-shift; bias below 2^-32 for our bounds).
@inline(__always)
func bounded(_ bits: UInt64, _ bound: Int) -> Int {
    Int(bits.multipliedFullWidth(by: UInt64(bound)).high)
}

/// A permutation of 0..<count, a pure function of the seed: Fisher-Yates whose i-th swap draws
/// from counterHash(seed, i).
func seededPermutation(count: Int, seed: UInt64) -> [Int] {
    var order = Array(0..<count)
    var i = count - 1
    while i > 0 {
        let j = bounded(counterHash(seed, UInt64(i)), i + 1)
        order.swapAt(i, j)
        i -= 1
    }
    return order
}
