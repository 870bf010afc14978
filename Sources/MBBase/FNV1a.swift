/// The 64-bit FNV-1a hash: start from the offset basis, then for each unit xor it in and multiply
/// by the FNV prime. Cheap, deterministic on every platform, and sensitive to order and to any
/// changed bit. The standard hash takes bytes (`add(bytes:)`); a caller may take wider units
/// (the parameter checksum takes each float's 32-bit pattern as one unit).
@frozen public struct FNV1a {
    @usableFromInline var state: UInt64

    @inlinable public init() { state = 0xcbf2_9ce4_8422_2325 }

    @inlinable public var value: UInt64 { state }

    @inlinable public mutating func add(_ unit: UInt64) {
        state = (state ^ unit) &* 0x0000_0100_0000_01b3
    }

    @inlinable public mutating func add<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes { add(UInt64(byte)) }
    }
}
