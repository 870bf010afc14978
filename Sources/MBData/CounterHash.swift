/// Counter-based randomness: every random number the data pipeline uses is a pure function of
/// its coordinates (seed, purpose, epoch, index, ...), so no generator state is shared or saved.

/// SplitMix64's finaliser: a bijective 64-bit mixer.
@inline(__always)
func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A hash of a list of coordinates (order matters).
@inline(__always)
func counterHash(_ coordinates: UInt64...) -> UInt64 {
    coordinates.reduce(0x6A09_E667_F3BC_C908) { splitMix64($0 ^ splitMix64($1)) }
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
