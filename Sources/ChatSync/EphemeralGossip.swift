import ChatCore
import ChatCrypto
import ChatWire

/// Why ``EphemeralGossip`` dropped an update. Stable `code`s for counters and logs.
public enum EphemeralGossipDrop: Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not a well-formed ``SignedEphemeral``.
    case malformed(WireError)
    /// The signature does not verify against the update's origin.
    case badSignature
    /// The update is about another conversation.
    case wrongConversation
    /// The origin is not a member of the conversation.
    case notMember
    /// Not newer than what the origin's register of that kind holds: a duplicate relayed by
    /// another peer, a replay, or an update overtaken by a newer one.
    case staleOrDuplicate
    /// Sent too long before, or too far after, this node's clock (``EphemeralPolicy/maxAge``,
    /// ``EphemeralPolicy/maxFutureSkew``).
    case outsideTimeWindow
    /// The origin sends faster than an honest sender would (``EphemeralRateLimiter``).
    case rateLimited

    /// A stable, machine-readable reason code.
    public var code: String {
        switch self {
        case .malformed: "malformed"
        case .badSignature: "bad_signature"
        case .wrongConversation: "wrong_conversation"
        case .notMember: "not_member"
        case .staleOrDuplicate: "stale_or_duplicate"
        case .outsideTimeWindow: "outside_time_window"
        case .rateLimited: "rate_limited"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let error): "malformed ephemeral update: \(error)"
        case .badSignature: "the signature does not verify against the origin"
        case .wrongConversation: "the update is about another conversation"
        case .notMember: "the origin is not a member"
        case .staleOrDuplicate: "not newer than the update already held"
        case .outsideTimeWindow: "sent too long ago or too far in the future"
        case .rateLimited: "the origin exceeds its rate"
        }
    }
}

/// What to do with one gossiped ephemeral update.
public enum EphemeralGossipVerdict: Sendable, Hashable {
    /// New and authentic: apply it and relay its exact bytes to every peer but the one it came from.
    case fresh(SignedEphemeral)
    /// Dropped: neither apply nor relay.
    case dropped(EphemeralGossipDrop)
}

/// What ``EphemeralGossip`` did, for `status` and tests.
public struct EphemeralGossipCounters: Sendable, Hashable {
    /// Updates accepted as fresh (applied and to be relayed).
    public var fresh = 0
    /// Updates dropped, by ``EphemeralGossipDrop/code``.
    public var dropped: [String: Int] = [:]

    /// Counters at zero.
    public init() {}
}

/// The de-duplicator for gossiped ephemeral updates of one conversation, sans-I/O.
///
/// Each update arrives as the exact bytes a peer sent (or this node signed) and is either
/// `fresh` — authentic, from a member, newer than anything held from its origin of its kind, and
/// within its origin's rate — or `dropped` with a reason. Relaying only fresh updates floods each
/// update through the mesh once per node: the second copy from another peer is a duplicate.
///
/// "Newer" is decided by ``EphemeralRegisters`` (one last-writer-wins register per origin and kind,
/// ordered by the origin's counter), which this type owns and updates; the rate by
/// ``EphemeralRateLimiter``. Checks run cheapest first — decoding, conversation, membership,
/// register order and time window — and the signature (one Ed25519 verification) only for an
/// update that would be applied, so duplicates cost no cryptography. Nothing changes before the
/// signature verifies, so a forgery can neither shadow a genuine update nor spend its origin's
/// rate budget.
///
/// Memory is bounded by the number of origins accepted (members only): per origin, one register
/// per kind and one token bucket per rate class. ``remove(origin:)`` forgets a removed member.
///
/// Pure: `now` is passed in, as the wall-clock time since the Unix epoch, because the registers
/// compare it with the origin's `sentAt` (milliseconds since the Unix epoch).
public struct EphemeralGossip: Sendable {
    /// The conversation whose updates this accepts.
    public var conversation: ConversationID { registers.conversation }
    /// The newest accepted update state of every origin (presence, typing, cursor, liveness),
    /// including this node's own updates passed with `from: nil`.
    public private(set) var registers: EphemeralRegisters
    /// Per-origin flood guard.
    public private(set) var rateLimiter: EphemeralRateLimiter
    /// Limits applied when decoding updates.
    public let limits: WireLimits
    /// Fresh and dropped updates so far.
    public private(set) var counters = EphemeralGossipCounters()

    /// Creates a de-duplicator that holds nothing yet.
    /// - Parameters:
    ///   - policy: time window and rates (``EphemeralPolicy/default`` is the product plan's).
    ///   - limits: decoding limits for each update.
    public init(conversation: ConversationID, policy: EphemeralPolicy = .default, limits: WireLimits = .default) {
        registers = EphemeralRegisters(conversation: conversation, policy: policy)
        rateLimiter = EphemeralRateLimiter(policy: policy)
        self.limits = limits
    }

    /// Decides what to do with one update's bytes, and records a fresh one.
    ///
    /// - Parameters:
    ///   - bytes: a ``SignedEphemeral`` encoding, as received (an element of an `ephemeral` frame).
    ///   - from: the peer that sent it; nil for an update this node made itself, which is recorded
    ///     (so its echoes from peers are duplicates) but not rate-limited (``EphemeralThrottle``
    ///     restrains the local sender).
    ///   - isMember: whether a replica is a member of the conversation now.
    ///   - now: wall-clock time since the Unix epoch.
    /// - Complexity: O(size of the update), at most ``SignedEphemeral/maxBytes``, plus one
    ///   Ed25519 verification (about 65 µs) only for an update that would be applied; O(1)
    ///   expected otherwise.
    public mutating func receive(_ bytes: [UInt8], from: ReplicaID?, isMember: (ReplicaID) -> Bool,
                                 now: Duration) -> EphemeralGossipVerdict {
        let verdict = judge(bytes, from: from, isMember: isMember, now: Self.milliseconds(now))
        switch verdict {
        case .fresh: counters.fresh += 1
        case .dropped(let reason): counters.dropped[reason.code, default: 0] += 1
        }
        return verdict
    }

    /// Forgets `origin`'s registers and rate budget (for a member who was removed).
    /// - Complexity: O(1) expected.
    public mutating func remove(origin: ReplicaID) {
        registers.remove(origin: origin)
        rateLimiter.remove(origin: origin)
    }

    private mutating func judge(_ bytes: [UInt8], from: ReplicaID?, isMember: (ReplicaID) -> Bool,
                                now: UInt64) -> EphemeralGossipVerdict {
        let signed: SignedEphemeral
        do {
            signed = try SignedEphemeral(decoding: bytes, limits: limits)
        } catch {
            return .dropped(.malformed(error))
        }
        let update = signed.update
        guard update.conversation == conversation else { return .dropped(.wrongConversation) }
        guard isMember(update.origin) else { return .dropped(.notMember) }
        switch registers.check(update, now: now) {
        case .accepted: break
        case .stale: return .dropped(.staleOrDuplicate)
        case .tooOld, .fromTheFuture: return .dropped(.outsideTimeWindow)
        case .otherConversation: return .dropped(.wrongConversation)
        }
        guard let signature = Signature(bytes: signed.signature),
              PublicKey(update.origin).isValidSignature(signature, for: signed.signedBytes) else {
            return .dropped(.badSignature)
        }
        if from != nil, !rateLimiter.admit(update, now: now) { return .dropped(.rateLimited) }
        registers.receive(update, now: now)
        return .fresh(signed)
    }

    /// Whole milliseconds in `duration`, clamped to `0 ... UInt64.max`.
    static func milliseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000)
        guard !overflow else { return .max }
        let (total, carry) = scaled.addingReportingOverflow(UInt64(max(0, attoseconds / 1_000_000_000_000_000)))
        return carry ? .max : total
    }
}
