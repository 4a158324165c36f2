import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Foundation

/// A direct invitation as the invitee's `invitations received` shows it.
public struct ReceivedInvitationEntry: Sendable, Hashable, Codable {
    /// The conversation it invites to (hex id).
    public var conversation: String
    public var permission: String
    /// The admin who signed it (sc1…).
    public var issuer: String
    public var tokenID: String
    public var label: String
    public var expiresAt: UInt64?
    /// The member whose node delivered it (sc1…).
    public var from: String
    /// When it arrived (ms since the Unix epoch, this node's clock).
    public var receivedAt: UInt64
    /// The `streamingchat://join` link that `invitations accept` and `decline` take.
    public var url: String
    /// pending, accepted (this node joined with it), member (this node is a member by other
    /// means), declined (by this node), or expired.
    public var state: String

    /// An entry with every field given.
    public init(conversation: String, permission: String, issuer: String, tokenID: String, label: String,
                expiresAt: UInt64?, from: String, receivedAt: UInt64, url: String, state: String) {
        self.conversation = conversation
        self.permission = permission
        self.issuer = issuer
        self.tokenID = tokenID
        self.label = label
        self.expiresAt = expiresAt
        self.from = from
        self.receivedAt = receivedAt
        self.url = url
        self.state = state
    }
}

/// A received invitation's key: its signer and token id (a token id alone could be reused by a
/// forger to hide a real invitation).
struct ReceivedInvitationKey: Sendable, Hashable {
    var issuer: ReplicaID
    var tokenID: [UInt8]
}

/// A direct invitation another member's node delivered here.
struct ReceivedInvitation: Sendable {
    var token: InviteToken
    var from: ReplicaID
    var receivedAt: UInt64
}

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
    public static let maxReceivedInvitations = 256
    public static let maxReceivedInvitationsPerPeer = 32

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
        // Read again after the awaits: sessions with the invitee may have ended or begun.
        for id in machine.links(to: invitee) {
            guard let carrier = machine.sessions[id]?.peer?.conversations.first else { continue }
            for token in tokens { channels[id]?.commands.yield(.send(.invitation(conversation: carrier, token: token))) }
            machine.counters.invitationsDelivered += tokens.count
        }
    }

    /// A member's node delivered an invitation: keep it when its token verifies (a token that
    /// does not, or one past the bounds, is counted and dropped).
    /// - Complexity: O(r) in the invitations received.
    func receivedInvitation(_ bytes: [UInt8], link id: Int) {
        guard let from = machine.sessions[id]?.peerID else { return }
        guard let grant = ConversationInputs.verifyInvite(bytes), let token = try? InviteToken(decoding: bytes) else {
            machine.counters.invitationsDropped += 1
            return
        }
        let key = ReceivedInvitationKey(issuer: grant.issuer, tokenID: grant.tokenID)
        guard receivedInvitations[key] == nil else { return }
        guard receivedInvitations.count < Self.maxReceivedInvitations,
              receivedInvitations.values.count(where: { $0.from == from }) < Self.maxReceivedInvitationsPerPeer else {
            machine.counters.invitationsDropped += 1
            return
        }
        receivedInvitations[key] = ReceivedInvitation(token: token, from: from,
                                                                receivedAt: configuration.wallClock())
        eventSink.yield(.invitationReceived(grant.conversation, from: from))
    }

    /// The direct invitations members' nodes delivered here, newest first. `issuer` is the key
    /// that signed the token (the members check it is an admin when the invitee joins).
    public func receivedInvitationList() async -> [ReceivedInvitationEntry] {
        let now = configuration.wallClock()
        var entries: [ReceivedInvitationEntry] = []
        let sorted = receivedInvitations.values
            .sorted { ($0.receivedAt, Hex.encode($0.token.content.tokenID)) > ($1.receivedAt, Hex.encode($1.token.content.tokenID)) }
        for invitation in sorted {
            let content = invitation.token.content
            let state: String
            let key = ReceivedInvitationKey(issuer: content.issuer, tokenID: content.tokenID)
            if directory.permission(of: replicaID, in: content.conversation) != nil {
                let link = await replicas[content.conversation]?.conversation.links[content.tokenID]
                state = link?.creator == content.issuer && link?.joiners.contains(replicaID) == true ? "accepted" : "member"
            } else if declinedInvitations.contains(key) {
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
        let matches = receivedInvitations.values.filter { Hex.encode($0.token.content.tokenID).hasPrefix(prefix) }
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
