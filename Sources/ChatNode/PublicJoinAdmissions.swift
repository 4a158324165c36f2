import ChatCore
import ChatWire

/// Public joins, both sides. As a member, the admissions this node signed per conversation, so it
/// vouches for at most ``SharingLimits/publicAdmissionsPerHour`` joiners a rolling hour of its own
/// wall clock (every replica excludes the rest anyway) and for each joiner once an hour. As a
/// joiner, the admission a member sent it, which its join carries.
struct PublicJoinAdmissions: Sendable {
    private struct Signed: Sendable {
        var joiner: ReplicaID
        var at: UInt64
        var bytes: [UInt8]
    }

    /// What a member does for a non-member's session in a public conversation.
    enum Decision: Equatable {
        /// Send again the admission signed for this joiner within the hour.
        case resend([UInt8])
        /// Sign a new one, reporting `usesSeen` admissions in the hour before.
        case sign(usesSeen: Int)
        /// At the hourly limit: refuse (`rate_limited`).
        case refuse
    }

    private var signed: [ConversationID: [Signed]] = [:]
    /// The admission received while joining, per conversation.
    private(set) var received: [ConversationID: (bytes: [UInt8], content: JoinAdmission)] = [:]
    /// Why the member reached would not vouch, per conversation being joined.
    private(set) var refusals: [ConversationID: RefuseCode] = [:]
    /// The public conversations this node is joining: it asks each member it reaches there to
    /// vouch (an empty `admission` frame). Readers that only follow never ask, so they use up
    /// no member's hourly admissions.
    private(set) var wanted: Set<ConversationID> = []

    /// Starts asking for an admission to `conversation`.
    mutating func want(_ conversation: ConversationID) {
        wanted.insert(conversation)
    }

    /// Decides for `joiner` at `now`, given the public joins this node's admissions already got
    /// accepted in the hour before (they count too after a restart, when `signed` is empty).
    /// - Complexity: O(s) in the admissions signed for the conversation in the last hour.
    mutating func decide(for joiner: ReplicaID, in conversation: ConversationID, now: UInt64,
                         acceptedThisHour: Int) -> Decision {
        let floor = now >= SharingLimits.hour ? now - SharingLimits.hour : 0
        signed[conversation]?.removeAll { $0.at <= floor }
        let recent = signed[conversation] ?? []
        if let earlier = recent.first(where: { $0.joiner == joiner }) { return .resend(earlier.bytes) }
        let seen = max(recent.count, acceptedThisHour)
        return seen < SharingLimits.publicAdmissionsPerHour ? .sign(usesSeen: seen) : .refuse
    }

    mutating func noteSigned(_ bytes: [UInt8], for joiner: ReplicaID, in conversation: ConversationID, at now: UInt64) {
        signed[conversation, default: []].append(Signed(joiner: joiner, at: now, bytes: bytes))
    }

    mutating func noteReceived(_ bytes: [UInt8], _ admission: JoinAdmission) {
        received[admission.conversation] = (bytes, admission)
        refusals[admission.conversation] = nil
    }

    mutating func noteRefused(_ reason: RefuseCode, in conversation: ConversationID) {
        if received[conversation] == nil { refusals[conversation] = reason }
    }

    /// The join was signed (or given up): forget what it waited for.
    mutating func finish(_ conversation: ConversationID) {
        wanted.remove(conversation)
        received[conversation] = nil
        refusals[conversation] = nil
    }
}
