import ChatCore
import ChatWire

/// Why an incoming batch was not accepted. Every case has a stable `code` and is counted.
public enum BatchRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes do not decode (truncated, oversized, unknown version, non-canonical, …).
    case malformed(WireError)
    /// The Ed25519 signature does not verify against the batch's author.
    case badSignature
    /// The batch belongs to another conversation.
    case wrongConversation
    /// The batch's previous-hash does not match the author's chain: a fork, kept as evidence.
    case chainMismatch
    /// Same author and counters as a stored batch but different bytes: a fork, kept as evidence.
    case fork
    /// The pending buffer (batches waiting for missing predecessors) is full: dropped, to be
    /// fetched again by anti-entropy.
    case pendingFull
    /// Counters beyond 32 bits.
    case counterOverflow
    /// A dependency's hash names a batch of another author, or one that ends elsewhere.
    case badDependency
    /// A waiting batch dropped to make room for another author's (the buffer was full and this
    /// author held the most): fetched again by anti-entropy once it can be accepted.
    case pendingEvicted
    /// The author is not a member in the batch's causal past and the batch is not an admissible
    /// join or decline (``StorageRefusal``): neither stored nor relayed.
    case notAMember(StorageRefusal)

    public var code: String {
        switch self {
        case .malformed(let error): "malformed:\(error.code)"
        case .badSignature: "bad_signature"
        case .wrongConversation: "wrong_conversation"
        case .chainMismatch: "chain_mismatch"
        case .fork: "fork"
        case .pendingFull: "pending_full"
        case .counterOverflow: "counter_overflow"
        case .badDependency: "bad_dependency"
        case .pendingEvicted: "pending_evicted"
        case .notAMember(let refusal): refusal.rawValue
        }
    }

    public var description: String {
        switch self {
        case .malformed(let error): "malformed batch: \(error)"
        case .badSignature: "the signature does not match the author"
        case .wrongConversation: "the batch belongs to another conversation"
        case .chainMismatch: "the batch does not continue its author's hash chain (fork)"
        case .fork: "the author signed two different batches for the same counters (fork)"
        case .pendingFull: "too many batches are waiting for their predecessors"
        case .counterOverflow: "the batch's counters overflow"
        case .badDependency: "a dependency's hash does not name the batch its author and count say"
        case .pendingEvicted: "a waiting batch was dropped to make room for another author's"
        case .notAMember(.notAMember): "the author is not a member in the batch's causal past"
        case .notAMember(.inadmissibleJoin): "a join its causal past does not admit"
        }
    }

    /// True when the batch is validly signed but conflicts with the author's history: it is
    /// evidence of misbehaviour and is stored, never applied.
    public var isForkEvidence: Bool { self == .chainMismatch || self == .fork }
}

/// Counts of rejections (and drops) by reason code.
public struct RejectionCounters: Sendable, Hashable {
    public private(set) var byCode: [String: Int] = [:]

    public init() {}

    public mutating func count(_ rejection: BatchRejection) { byCode[rejection.code, default: 0] += 1 }

    public mutating func merge(_ other: RejectionCounters) {
        for (code, count) in other.byCode { byCode[code, default: 0] += count }
    }

    public var total: Int { byCode.values.reduce(0, +) }
}
