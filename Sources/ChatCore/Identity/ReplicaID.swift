/// The identity of one replica (a device): its 32-byte Ed25519 public key.
///
/// Ordered lexicographically by its bytes, so every replica breaks ties between concurrent
/// operations the same way.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The key as four big-endian 64-bit words; comparing words compares the bytes.
    @usableFromInline let words: (UInt64, UInt64, UInt64, UInt64)

    /// The number of bytes in a replica id.
    public static let byteCount = 32

    /// Creates an id from exactly 32 bytes; returns nil for any other length.
    /// - Complexity: O(1); no generic iteration (this runs for every replica of every decoded batch).
    @inlinable
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        guard let words = bytes.withContiguousStorageIfAvailable(Self.words(of:)) else {
            self.words = Array(bytes).withUnsafeBufferPointer(Self.words(of:))
            return
        }
        self.words = words
    }

    /// The four big-endian words of exactly 32 bytes.
    @usableFromInline
    static func words(of bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64, UInt64, UInt64) {
        let raw = UnsafeRawBufferPointer(bytes)
        func word(_ start: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt64.self)) }
        return (word(0), word(8), word(16), word(24))
    }

    /// The id whose bytes are these four big-endian words.
    @usableFromInline
    init(words: (UInt64, UInt64, UInt64, UInt64)) {
        self.words = words
    }

    /// A deterministic id for tests, traces and simulations: `value` in the last eight bytes.
    public init(testValue value: UInt64) {
        self.words = (0, 0, 0, value)
    }

    /// The 32 bytes of the key.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.byteCount)
        for word in [words.0, words.1, words.2, words.3] {
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return out
    }

    /// Word by word (tuple `==` and `<` go through runtime type metadata in unoptimized builds).
    public static func == (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        if lhs.words.0 != rhs.words.0 { return lhs.words.0 < rhs.words.0 }
        if lhs.words.1 != rhs.words.1 { return lhs.words.1 < rhs.words.1 }
        if lhs.words.2 != rhs.words.2 { return lhs.words.2 < rhs.words.2 }
        return lhs.words.3 < rhs.words.3
    }

    /// One word into the (per-process seeded) hasher: keys are uniformly random, so folding
    /// them keeps the distribution and makes dictionary lookups on the hot path cheaper.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0 ^ words.1 ^ words.2 ^ words.3)
    }

    /// The first eight hex digits of the key: enough to tell replicas apart in logs.
    public var description: String {
        let hex = String(words.0 >> 32, radix: 16)
        return String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }
}
