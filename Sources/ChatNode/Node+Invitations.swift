import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Direct invitations travel in the conversation's signed log (the record carries the token), so
/// any member whose node shares a session with the invitee's node delivers them: when the
/// session starts, and when the invitation is created. The invitee's node keeps what it received
/// (bounded in all and per delivering peer; the first ones kept) for `invitations received`;
/// after a restart, the next session with a member delivers the open ones again. The invitee
/// cannot check that the signer is an admin of a conversation it does not hold: the entry names
/// the signer and the peer that delivered it, and the join is judged by the members.
extension Node {
    /// Sends `invitee` every open direct invitation for it (not used, revoked, declined or
    /// expired) from the conversations this node holds, over each session with its node; only
    /// the one with token id `only` when given (a new invitation).
    /// - Complexity: O(c + l) for c conversations held and l links in them.
    func deliverInvitations(to invitee: ReplicaID, only: [UInt8]? = nil) async {
        guard !machine.links(to: invitee).isEmpty else { return }
        let now = configuration.wallClock()
        var tokens: [[UInt8]] = []
        for (conversation, replica) in replicas.sorted(by: { $0.key < $1.key })
        where directory.permission(of: invitee, in: conversation) == nil {
            tokens += await replica.conversation.openInvitations(for: invitee, at: now, only: only)
        }
        // The machine picks the sessions after the awaits: some may have ended or begun.
        await carryOut(machine.deliverInvitations(tokens, to: invitee))
    }

    /// This node declined the invitation `key` names.
    func noteDeclined(_ key: ReceivedInvitationKey) {
        machine.declinedInvitations.insert(key)
    }
}
