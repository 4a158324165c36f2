import ChatCore

extension Conversation {
    /// The tokens of the direct invitations for `invitee` still open at `now` (not used,
    /// revoked, declined or expired); only the one with token id `only` when given.
    /// - Complexity: O(l) for l links of the conversation.
    func openInvitations(for invitee: ReplicaID, at now: UInt64, only: [UInt8]? = nil) -> [[UInt8]] {
        links.values.compactMap { link in
            guard link.record.invitee == invitee, only.map({ $0 == link.record.tokenID }) ?? true,
                  let token = link.record.token, link.uses == 0, !link.revoked, !link.declined,
                  link.record.expiresAt.map({ now <= $0 }) ?? true else { return nil }
            return token
        }
    }
}
