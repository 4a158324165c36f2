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
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0
        for (offset, byte) in bytes.enumerated() {
            switch offset >> 3 {
            case 0: w0 = w0 << 8 | UInt64(byte)
            case 1: w1 = w1 << 8 | UInt64(byte)
            case 2: w2 = w2 << 8 | UInt64(byte)
            default: w3 = w3 << 8 | UInt64(byte)
            }
        }
        self.words = (w0, w1, w2, w3)
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

    public static func == (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        lhs.words == rhs.words
    }

    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        lhs.words < rhs.words
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
