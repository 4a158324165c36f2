import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Foundation

/// Direct invitations travel in the conversation's signed log (the record carries the token), so
/// any member whose node shares a session with the invitee's node delivers them: when the
/// session starts, and when the invitation is created. The invitee's node keeps what it received
/// (bounded in all and per delivering peer; the first ones kept) for `invitations received`;
/// after a restart, the next session with a member delivers the open ones again. The invitee
/// cannot check that the signer is an admin of a conversation it does not hold: the entry names
/// the signer and the peer that delivered it, and the join is judged by the members.
extension Node {
    /// The most received invitations kept, in all and per delivering peer (so one peer cannot
    /// crowd out the others); more are dropped and counted.
    public static let maxReceivedInvitations = NodeMachine.maxReceivedInvitations
    public static let maxReceivedInvitationsPerPeer = NodeMachine.maxReceivedInvitationsPerPeer

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
            for link in await replica.conversation.links.values
            where link.record.invitee == invitee && (only.map { $0 == link.record.tokenID } ?? true) {
                guard let token = link.record.token, link.uses == 0, !link.revoked, !link.declined,
                      link.record.expiresAt.map({ now <= $0 }) ?? true else { continue }
                tokens.append(token)
            }
        }
        // The machine picks the sessions after the awaits: some may have ended or begun.
        await carryOut(machine.deliverInvitations(tokens, to: invitee))
    }

    /// The direct invitations members' nodes delivered here, newest first. `issuer` is the key
    /// that signed the token (the members check it is an admin when the invitee joins).
    public func receivedInvitationList() async -> [ReceivedInvitationEntry] {
        let now = configuration.wallClock()
        var entries: [ReceivedInvitationEntry] = []
        let sorted = machine.receivedInvitations.values
            .sorted { ($0.receivedAt, Hex.encode($0.token.content.tokenID)) > ($1.receivedAt, Hex.encode($1.token.content.tokenID)) }
        for invitation in sorted {
            let content = invitation.token.content
            let state: String
            let key = ReceivedInvitationKey(issuer: content.issuer, tokenID: content.tokenID)
            if directory.permission(of: replicaID, in: content.conversation) != nil {
                let link = await replicas[content.conversation]?.conversation.links[content.tokenID]
                state = link?.creator == content.issuer && link?.joiners.contains(replicaID) == true ? "accepted" : "member"
            } else if machine.declinedInvitations.contains(key) {
                state = "declined"
            } else if content.expiresAt.map({ now > $0 }) == true {
                state = "expired"
            } else {
                state = "pending"
            }
            entries.append(ReceivedInvitationEntry(
                conversation: content.conversation.hex, permission: content.permission.description,
                issuer: PublicKey(content.issuer).text, tokenID: Hex.encode(content.tokenID), label: content.label,
                expiresAt: content.expiresAt, from: PublicKey(invitation.from).text, receivedAt: invitation.receivedAt,
                url: ShareLink.prefix + Hex.encode(invitation.token.bytes), state: state))
        }
        return entries
    }

    /// The token of the received invitation whose token id starts with `prefix` (hex, at least 4
    /// digits), or nil when none or more than one matches.
    public func receivedInvitationToken(matching prefix: String) -> [UInt8]? {
        let prefix = prefix.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard prefix.count >= 4, prefix.count <= 2 * InviteRecord.tokenIDBytes else { return nil }
        let matches = machine.receivedInvitations.values.filter { Hex.encode($0.token.content.tokenID).hasPrefix(prefix) }
        return matches.count == 1 ? matches[0].token.bytes : nil
    }

    /// The person `text` names: a public key (sc1…), or the display name (any case) of exactly
    /// one member of `conversation` (nil: of the conversations this node holds), so an admin can
    /// invite, grant or remove someone they know by name.
    /// - Complexity: O(c · m) for c conversations of m members.
    public func person(_ text: String, in conversation: ConversationID? = nil) async throws(NodeCommandError) -> ReplicaID {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let key = try? PublicKey(text: text) { return key.replicaID }
        var found: Set<ReplicaID> = []
        let searched = conversation.map { id in replicas.filter { $0.key == id }.map(\.value) } ?? Array(replicas.values)
        for replica in searched {
            for (member, profile) in await replica.document.profiles
            where profile.profile.displayName.caseInsensitiveCompare(text) == .orderedSame {
                found.insert(member)
            }
        }
        guard let only = found.first else {
            let scope = conversation == nil ? "the conversations this node holds" : "this conversation"
            throw .invalidArgument("no one is called \(text) in \(scope); give their key (sc1…)")
        }
        guard found.count == 1 else {
            let keys = found.map { PublicKey($0).text }.sorted().joined(separator: ", ")
            throw .invalidArgument("\(found.count) people are called \(text) (\(keys)); give the key")
        }
        return only
    }
}
