/// Appends canonical binary values: unsigned LEB128 varints, fixed-width big-endian integers,
/// raw bytes.
public struct ByteWriter: Sendable {
    @usableFromInline var storage: [UInt8] = []

    /// The bytes written so far.
    public var bytes: [UInt8] { storage }

    /// Creates an empty writer, optionally reserving capacity.
    public init(capacity: Int = 0) { storage.reserveCapacity(capacity) }

    /// Appends one byte.
    @inlinable
    public mutating func write(byte: UInt8) { storage.append(byte) }

    /// Appends raw bytes.
    @inlinable
    public mutating func write(bytes other: some Sequence<UInt8>) { storage.append(contentsOf: other) }

    /// Appends `value` as an unsigned LEB128 varint (1–10 bytes, canonical: no trailing zero groups).
    @inlinable
    public mutating func write(varint value: UInt64) {
        var value = value
        while value >= 0x80 {
            storage.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        storage.append(UInt8(value))
    }

    /// Appends `value` as a varint.
    @inlinable
    public mutating func write(varint value: UInt32) { write(varint: UInt64(value)) }

    /// Appends `value` as eight big-endian bytes.
    @inlinable
    public mutating func write(bigEndian value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            storage.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}
