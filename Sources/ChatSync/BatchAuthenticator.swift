import ChatCore
import ChatCrypto
import ChatWire

/// A batch whose encoding and signature have been checked, with its hash.
///
/// Equal when batch and hash are (whether this copy's signature was checked does not count).
public struct AuthenticatedBatch: Sendable, Hashable {
    public let batch: SignedBatch
    /// BLAKE2b-256 of the batch's bytes: what the author's next batch names as previous.
    public let hash: [UInt8]
    /// True when this copy's signature was verified here (false for one read from this node's
    /// own store or signed by this node, which are trusted as they are).
    public let signatureChecked: Bool
    /// The causal past its hash dependencies derive, set by ``BatchVerifier`` when it accepts the
    /// batch (nil before, and when only ordering stored batches).
    public internal(set) var past: VectorClock?

    init(batch: SignedBatch, hash: [UInt8]) {
        self.batch = batch
        self.hash = hash
        signatureChecked = true
    }

    /// A batch read back from this node's own store, which verified it when it arrived: the
    /// signature is not checked again.
    public init(storedBatch batch: SignedBatch, hash: [UInt8]) {
        self.batch = batch
        self.hash = hash
        signatureChecked = false
    }

    public static func == (lhs: AuthenticatedBatch, rhs: AuthenticatedBatch) -> Bool {
        lhs.hash == rhs.hash && lhs.batch == rhs.batch
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }

    public var author: ReplicaID { batch.content.author }
    public var firstCounter: UInt32 { batch.content.firstCounter }
    /// One past the last counter the batch uses.
    public var endCounter: UInt32 { UInt32(truncatingIfNeeded: UInt64(batch.content.firstCounter) + batch.idCount) }
    /// The counters the batch uses.
    public var counters: Range<UInt32> { firstCounter ..< max(firstCounter, endCounter) }
}

/// The stateless first stage of verification: decode within limits, check the signature, hash.
/// Independent per batch, so callers may run it on several cores.
public enum BatchAuthenticator {
    /// Decodes and authenticates untrusted bytes.
    /// - Complexity: O(size) plus one Ed25519 verification (about 65 µs).
    public static func authenticate(_ bytes: [UInt8], limits: WireLimits = .default) -> Result<AuthenticatedBatch, BatchRejection> {
        let batch: SignedBatch
        do {
            batch = try SignedBatch(decoding: bytes, limits: limits)
        } catch {
            return .failure(.malformed(error))
        }
        let key = PublicKey(batch.content.author)
        guard let signature = Signature(bytes: batch.signature),
              key.isValidSignature(signature, for: batch.signedBytes) else {
            return .failure(.badSignature)
        }
        return .success(AuthenticatedBatch(batch: batch, hash: Hashing.blake2b(bytes)))
    }
}
