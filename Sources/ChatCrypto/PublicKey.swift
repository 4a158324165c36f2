public import ChatCore
private import CSodium

/// An Ed25519 public key: 32 bytes, the identity of a replica.
///
/// Ordered lexicographically by its bytes, exactly like ``ChatCore/ReplicaID``, which it converts to and
/// from without loss. Its human-readable form (``text``) carries a checksum so that typos are caught.
public struct PublicKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number of bytes in a public key (`crypto_sign_PUBLICKEYBYTES`).
    public static let byteCount = 32

    /// The replica this key identifies.
    public let replicaID: ReplicaID

    /// Wraps exactly 32 bytes; returns nil for any other length.
    ///
    /// Any 32 bytes are accepted: a byte string that is not a usable Ed25519 point simply never
    /// verifies a signature.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount, let replica = ReplicaID(bytes: bytes) else { return nil }
        self.replicaID = replica
    }

    /// The key of `replica`.
    public init(_ replica: ReplicaID) {
        self.replicaID = replica
    }

    /// The 32 bytes of the key.
    public var bytes: [UInt8] { replicaID.bytes }

    /// Orders keys by their bytes.
    public static func < (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.replicaID < rhs.replicaID
    }

    /// The key's text form (``text``).
    public var description: String { text }

    /// Whether `signature` is a valid Ed25519 signature by this key over `message`
    /// (`crypto_sign_verify_detached`, which also rejects small-order keys and non-canonical signatures).
    ///
    /// - Complexity: O(n) in the length of `message`, plus one signature verification.
    public func isValidSignature(_ signature: Signature, for message: [UInt8]) -> Bool {
        message.withUnsafeBytes { isValidSignature(signature, for: $0) }
    }

    /// Whether `signature` is valid over `message`, a slice of a larger buffer (not copied).
    ///
    /// - Complexity: O(n) in the length of `message`, plus one signature verification.
    public func isValidSignature(_ signature: Signature, for message: ArraySlice<UInt8>) -> Bool {
        message.withUnsafeBytes { isValidSignature(signature, for: $0) }
    }

    /// Whether `signature` is valid over the bytes in `message` (not copied).
    ///
    /// - Complexity: O(n) in the length of `message`, plus one signature verification.
    public func isValidSignature(_ signature: Signature, for message: UnsafeRawBufferPointer) -> Bool {
        requireSodium()
        let key = bytes
        guard key.count == SodiumSize.publicKey, signature.bytes.count == SodiumSize.signature else {
            return false
        }
        return key.withUnsafeBufferPointer { keyBuffer in
            signature.bytes.withUnsafeBufferPointer { signatureBuffer in
                guard let keyBase = keyBuffer.baseAddress, let signatureBase = signatureBuffer.baseAddress else {
                    return false
                }
                return withNonNullBytes(message) { messageBase, count in
                    crypto_sign_verify_detached(signatureBase, messageBase, UInt64(count), keyBase) == 0
                }
            }
        }
    }
}
