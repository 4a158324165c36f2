import ChatControl
import ChatCore
import ChatStore
import ChatSync

/// A join in progress: the token this node presents when it dials (so members admit it before
/// they hold its join), recorded as a signed join operation once the conversation's history
/// (the issuer's admin grant) has arrived, and forgotten once a peer reports holding that op.
/// Kept in the store's per-conversation metadata so a restart does not strand a joiner whose
/// join had not reached anyone yet.
struct PendingJoin: Sendable {
    var token: [UInt8]
    var grant: InviteGrant
    /// The admitting member's signed admission (``SignedAdmission`` bytes) and what it says,
    /// once one arrived: the join carries it.
    var admission: (bytes: [UInt8], content: JoinAdmission)?
    /// The join operation is signed and stored here.
    var recorded = false
    /// The join operation's id, once signed (to tell when the rules exclude it).
    var joinOp: OpID?
    /// The addresses dialled for this join (not kept across restarts).
    var targets: Set<PeerEndpoint> = []
    /// Declining a direct invitation rather than accepting it: once the invitation's record has
    /// arrived, sign a decline instead of a join (not kept across restarts).
    var declining = false
    /// This node's own state said it was a member when the join began: a state that missed its
    /// removal says so too. Nothing is recorded and the join is not done until a member's node
    /// admits this node to the conversation (it is a member there), or every address refuses
    /// it (`revoked`, when it was removed). It replaces a join of this node not yet held by a
    /// member: the session that confirms it carries that join to the member. Not kept across
    /// restarts.
    var confirmingMembership = false

    /// Metadata format: version 2, the token (length-prefixed), then the admission
    /// (length-prefixed, empty when none). Version 1 (the token alone) still loads.
    static func encode(token: [UInt8], admission: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(capacity: token.count + admission.count + 8)
        writer.write(byte: 2)
        writer.write(varint: UInt64(token.count))
        writer.write(bytes: token)
        writer.write(varint: UInt64(admission.count))
        writer.write(bytes: admission)
        return writer.bytes
    }

    /// The pending join stored for a conversation, or nil (none, or unreadable: then it is ignored).
    static func decode(_ bytes: [UInt8]) -> (token: [UInt8], admission: [UInt8])? {
        var reader = ByteReader(bytes)
        guard let version = try? reader.readByte(), version == 1 || version == 2,
              let count = try? reader.readCount(limit: 64 << 10), count > 0,
              let token = try? reader.readBytes(count) else { return nil }
        guard version == 2 else { return (Array(token), []) }
        guard let admissionCount = try? reader.readCount(limit: 64 << 10),
              let admission = try? reader.readBytes(admissionCount) else { return nil }
        return (Array(token), Array(admission))
    }

    /// The pending join saved for `conversation`, when its bytes decode and its token verifies
    /// for that conversation (nil otherwise: then it is ignored); an admission that does not
    /// verify is left out.
    static func saved(_ bytes: [UInt8], for conversation: ConversationID) -> PendingJoin? {
        guard let saved = decode(bytes), let grant = ConversationInputs.verifyInvite(saved.token),
              grant.conversation == conversation else { return nil }
        var pending = PendingJoin(token: saved.token, grant: grant)
        if let admission = ConversationInputs.verifyAdmission(saved.admission) { pending.admission = (saved.admission, admission) }
        return pending
    }

    /// What is saved of this join (see ``saved(_:for:)``).
    var savedBytes: [UInt8] { Self.encode(token: token, admission: admission?.bytes ?? []) }
}
