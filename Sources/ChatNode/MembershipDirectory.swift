import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Synchronization

/// Who may connect for which conversation, as of the latest committed state: the members of
/// each conversation this node holds, and the invite tokens a joiner may present. Sessions ask
/// it during the handshake (``admission(now:)``) — synchronously, before any conversation data
/// flows — so replicas publish their member sets here after each commit.
public final class MembershipDirectory: Sendable {
    private struct Entry: Sendable {
        var permissions: [ReplicaID: Permission]
        var revoked: Set<ReplicaID>
        var sharing = SharingAdmission()
        var title = ""
    }

    /// What admission needs to know of a conversation's links and mode.
    public struct SharingAdmission: Sendable, Hashable {
        /// Token ids of the links recorded in the log: a token admits only when recorded.
        public var recorded: Set<[UInt8]> = []
        /// Token ids that admit no one any more, and why: revoked, used up, declined.
        public var closedTokens: [[UInt8]: RefuseCode] = [:]
        /// Direct invitations: token id → the only key it admits.
        public var invitees: [[UInt8]: ReplicaID] = [:]
        /// Expiry of recorded links (ms since the Unix epoch), which may be earlier than the token's.
        public var expiries: [[UInt8]: UInt64] = [:]
        /// Accepted joins per token id (recorded or not), for the tokens' own use limits.
        public var uses: [[UInt8]: Int] = [:]
        /// Anyone who reaches a member may join (with `view`).
        public var isPublic = false
        /// The links' short codes: lookup hash → sealed token (see ``InviteCodeRecord``).
        public var codes: [[UInt8]: [UInt8]] = [:]

        public init(recorded: Set<[UInt8]> = [], closedTokens: [[UInt8]: RefuseCode] = [:],
                    invitees: [[UInt8]: ReplicaID] = [:], expiries: [[UInt8]: UInt64] = [:], uses: [[UInt8]: Int] = [:],
                    isPublic: Bool = false) {
            self.recorded = recorded
            self.closedTokens = closedTokens
            self.invitees = invitees
            self.expiries = expiries
            self.uses = uses
            self.isPublic = isPublic
        }

        /// Why `grant`, presented by `peer` at `now`, admits no one (nil: it admits `peer`).
        func refusal(of grant: InviteGrant, by peer: ReplicaID, now: UInt64) -> RefuseCode? {
            let tokenID = grant.tokenID
            guard recorded.contains(tokenID) else { return .invalidInvite }
            if let closed = closedTokens[tokenID] { return closed }
            if let invitee = invitees[tokenID], invitee != peer { return .notTheInvitee }
            if let expiresAt = grant.expiresAt, now > expiresAt { return .inviteExpired }
            if let expiresAt = expiries[tokenID], now > expiresAt { return .inviteExpired }
            if let limit = grant.useLimit, uses[tokenID] ?? 0 >= Int(limit) { return .inviteUsedUp }
            return nil
        }
    }

    private let entries = Mutex<[ConversationID: Entry]>([:])

    public init() {}

    /// Records the members with their permissions (and the removed members) of a conversation.
    public func publish(_ conversation: ConversationID, permissions: [ReplicaID: Permission], revoked: Set<ReplicaID>,
                        sharing: SharingAdmission = SharingAdmission(), title: String = "") {
        entries.withLock {
            $0[conversation] = Entry(permissions: permissions, revoked: revoked, sharing: sharing, title: title)
        }
    }

    /// The conversations whose title is `title`, ignoring case (so people can name one by it).
    /// - Complexity: O(conversations).
    public func conversations(titled title: String) -> [ConversationID] {
        let wanted = title.lowercased()
        guard !wanted.isEmpty else { return [] }
        return entries.withLock { entries in entries.filter { $0.value.title.lowercased() == wanted }.map(\.key) }
    }

    /// Drops a conversation this node no longer holds.
    public func forget(_ conversation: ConversationID) {
        entries.withLock { $0[conversation] = nil }
    }

    /// True when `peer` is a member of `conversation`.
    public func isMember(_ peer: ReplicaID, of conversation: ConversationID) -> Bool {
        entries.withLock { $0[conversation]?.permissions[peer] != nil }
    }

    /// True when `peer` was a member of `conversation` and has been removed.
    public func isRevoked(_ peer: ReplicaID, from conversation: ConversationID) -> Bool {
        entries.withLock { $0[conversation]?.revoked.contains(peer) ?? false }
    }

    /// The conversations of `agreed` this node may sync with `peer`: all but those `peer` was
    /// removed from. The one place that decides it for an established session, whichever side
    /// dialled: the peer's node may not know of its removal yet and admit the conversation.
    public func conversationsToSync(with peer: ReplicaID, agreed: [ConversationID]) -> [ConversationID] {
        entries.withLock { entries in agreed.filter { !(entries[$0]?.revoked.contains(peer) ?? false) } }
    }

    /// The permission of `peer` in `conversation`, nil for a non-member.
    public func permission(of peer: ReplicaID, in conversation: ConversationID) -> Permission? {
        entries.withLock { $0[conversation]?.permissions[peer] }
    }

    /// True when anyone who reaches a member may join `conversation` (with `view`).
    public func isPublic(_ conversation: ConversationID) -> Bool {
        entries.withLock { $0[conversation]?.sharing.isPublic ?? false }
    }

    /// True when this node holds no membership for `conversation` yet (it is joining or
    /// following it and has received nothing).
    public func knowsNoMembers(of conversation: ConversationID) -> Bool {
        entries.withLock { $0[conversation]?.permissions.isEmpty ?? true }
    }

    /// Why the token `grant`, presented by `peer` at `now`, admits no one to its conversation
    /// (nil: it admits `peer`), public or not: not an admin's, not recorded, revoked, used up,
    /// declined, expired, or a direct invitation for someone else.
    public func refusal(of grant: InviteGrant, by peer: ReplicaID, now: UInt64) -> RefuseCode? {
        entries.withLock { entries in
            guard let entry = entries[grant.conversation] else { return .notAMember }
            guard entry.permissions[grant.issuer] == .admin else { return .invalidInvite }
            return entry.sharing.refusal(of: grant, by: peer, now: now)
        }
    }

    /// The conversations this node holds.
    public var conversations: [ConversationID] { entries.withLock { Array($0.keys).sorted() } }

    /// An admission policy for sessions: a peer is admitted to the conversations it asks for
    /// that it is a member of, or that are public; a non-member is admitted to a private
    /// conversation when it presents a validly signed, unexpired invite for it from one of its
    /// admins that is not revoked, used up or declined, and — for a direct invitation — names it
    /// (the admitting node then signs a ``JoinAdmission`` the joiner carries in its join, which
    /// every replica judges again). A removed member presenting an old token is refused. A peer
    /// admitted to nothing is refused with the reason its token was refused (`invite_expired`,
    /// `invite_used_up`, `invite_revoked`, `invite_declined`, `not_the_invitee`, `invalid_invite`),
    /// else `revoked` or `not_a_member`. `now` gives the wall clock in ms since the Unix epoch.
    public func admission(now: @escaping @Sendable () -> UInt64) -> AdmissionPolicy {
        { [self] request in
            // A short code is resolved, whatever else was asked: the sealed token of each link
            // recorded with that lookup in a conversation held here (the joiner opens the one its
            // secret opens: a lookup copied into another conversation cannot block it). Nothing
            // else is revealed.
            if let lookup = request.codeLookup {
                let sealed = entries.withLock { entries in
                    entries.keys.sorted().compactMap { entries[$0]?.sharing.codes[lookup] }
                }
                return sealed.isEmpty ? .refuse(.invalidInvite) : .resolved(sealedTokens: Array(sealed.prefix(SessionFrame.maxResolvedTokens)))
            }
            let peer = request.peer.replicaID
            let grant = request.inviteToken.flatMap { ConversationInputs.verifyInvite($0) }
            var refusal: RefuseCode = request.inviteToken != nil && grant == nil ? .invalidInvite : .notAMember
            let admitted: [ConversationID] = entries.withLock { entries in
                request.conversations.filter { conversation in
                    guard let entry = entries[conversation] else { return false }
                    if entry.permissions[peer] != nil { return true }
                    guard !entry.revoked.contains(peer) else {
                        refusal = .revoked
                        return false
                    }
                    if entry.sharing.isPublic { return true }
                    guard let grant, grant.conversation == conversation else { return false }
                    guard entry.permissions[grant.issuer] == .admin else {
                        refusal = .invalidInvite
                        return false
                    }
                    if let reason = entry.sharing.refusal(of: grant, by: peer, now: now()) {
                        refusal = reason
                        return false
                    }
                    return true
                }
            }
            return admitted.isEmpty ? .refuse(refusal) : .admit(conversations: admitted)
        }
    }
}
