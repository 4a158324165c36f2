/// The id of a conversation: the BLAKE2b-256 hash of its genesis batch.
public struct ConversationID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 32 hash bytes.
    public let bytes: [UInt8]

    /// The number of bytes in a conversation id.
    public static let byteCount = 32

    /// Creates an id from exactly 32 bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    public static func < (lhs: ConversationID, rhs: ConversationID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// All 64 hex digits.
    public var hex: String { Hex.encode(bytes) }

    /// Parses 64 hex digits.
    public init?(hex: some StringProtocol) {
        guard let bytes = Hex.decode(hex), bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// The first 16 hex digits: enough to tell conversations apart in logs.
    public var description: String { String(hex.prefix(16)) }
}
