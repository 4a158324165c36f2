import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire

/// A recorded link or invitation as `link list` and `invitations` show it.
public struct LinkEntry: Sendable, Hashable, Codable {
    public var tokenID: String
    public var permission: String
    public var label: String
    public var creator: String
    public var createdAt: UInt64
    public var expiresAt: UInt64?
    public var useLimit: UInt32?
    /// Accepted joins with the token.
    public var uses: Int
    public var joiners: [String]
    public var invitee: String?
    /// active, expired, used_up, revoked, declined (invitations: pending or accepted instead of active).
    public var state: String
    /// The admitting members' signed records of the accepted joins, in the same order as `joiners`.
    public var admissions: [AdmissionEntry] = []
}

/// Who admitted a joiner on a link, when (the admitting member's clock) and as which use.
public struct AdmissionEntry: Sendable, Hashable, Codable {
    public var joiner: String
    public var admittedBy: String
    /// ms since the Unix epoch, on the admitting member's clock.
    public var admittedAt: UInt64
    /// 1 for the first use the admitting member knew of, and so on.
    public var use: UInt64
}

extension LinkEntry {
    /// The links and invitations recorded in a conversation, newest first, each with its state
    /// at wall time `now` (ms): revoked, declined, accepted/pending/expired (invitations),
    /// expired, used_up or active.
    /// - Complexity: O(l log l) for l links.
    public static func list(of state: Conversation, now: UInt64) -> [LinkEntry] {
        return state.links.values.sorted { ($0.createdAt, $0.createdBy) > ($1.createdAt, $1.createdBy) }.map { link in
            let record = link.record
            let status: String
            if link.revoked {
                status = "revoked"
            } else if link.declined {
                status = "declined"
            } else if record.invitee != nil {
                status = link.uses > 0 ? "accepted" : (record.expiresAt.map { now > $0 } == true ? "expired" : "pending")
            } else if record.expiresAt.map({ now > $0 }) == true {
                status = "expired"
            } else if record.useLimit.map({ link.uses >= Int($0) }) == true {
                status = "used_up"
            } else {
                status = "active"
            }
            return LinkEntry(tokenID: Hex.encode(record.tokenID), permission: record.permission.description,
                             label: record.label, creator: PublicKey(link.creator).text, createdAt: link.createdAt,
                             expiresAt: record.expiresAt, useLimit: record.useLimit, uses: link.uses,
                             joiners: link.joiners.map { PublicKey($0).text },
                             invitee: record.invitee.map { PublicKey($0).text }, state: status,
                             admissions: link.admissions.map { admission in
                                 AdmissionEntry(joiner: PublicKey(admission.joiner).text,
                                                admittedBy: PublicKey(admission.admitter).text,
                                                admittedAt: admission.admittedAt, use: UInt64(admission.usesSeen) + 1)
                             })
        }
    }
}
