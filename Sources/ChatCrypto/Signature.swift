/// An Ed25519 signature: 64 bytes.
///
/// Holding a `Signature` says nothing about its validity; check it with
/// `PublicKey.isValidSignature(_:for:)`.
public struct Signature: Hashable, Sendable, CustomStringConvertible {
    /// The number of bytes in a signature (`crypto_sign_BYTES`).
    public static let byteCount = 64

    /// The 64 bytes of the signature.
    public let bytes: [UInt8]

    /// Wraps exactly 64 bytes; returns nil for any other length (so bytes from a peer never trap).
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount, bytes.count == SodiumSize.signature else { return nil }
        self.bytes = Array(bytes)
    }

    /// The signature in lower-case hex.
    public var description: String { Hashing.hex(bytes) }
}
