import Foundation

/// SplitMix64: a small, fast, seedable generator whose stream is fixed by its seed on every
/// platform, so the same seed gives the same initial weights bitwise.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    @inlinable public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.finalize(state)
    }

    /// The first output of a generator seeded with `x`, without keeping one: a bijective 64-bit
    /// mixer, so a hash of counters (the data pipeline's randomness) needs no generator state.
    @inlinable public static func hash(_ x: UInt64) -> UInt64 {
        finalize(x &+ 0x9E37_79B9_7F4A_7C15)
    }

    @inlinable static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal by the Box-Muller transform (one value per call; deterministic).
    public mutating func normal() -> Double {
        let u1 = 1 - uniform()   // (0, 1]
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

