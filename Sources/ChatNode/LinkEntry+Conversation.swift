import ChatControl
import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire

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
