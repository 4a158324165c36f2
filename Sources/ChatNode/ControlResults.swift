import ChatCore
import ChatCrypto

// What each control command answers: the daemon encodes these, the CLI and scripts decode them.
// Their field names are the `--json` contract of the CLI: add fields, never rename one. Only
// the node makes them (memberwise), so they have no public initializers.

/// `create`, `join`, `decline`: the conversation (hex id).
public struct ConversationResult: Sendable, Hashable, Codable {
    public var conversation: String
}

/// `invite`: the conversation and the token (hex), and the link's short code when it has one.
public struct InviteResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var token: String
    public var code: String?
}

/// `link_list`: a conversation's links and invitations, newest first.
public struct LinksResult: Sendable, Hashable, Codable {
    public var links: [LinkEntry]
}

/// `invitations`: a conversation's direct invitations (admins).
public struct InvitationsResult: Sendable, Hashable, Codable {
    public var invitations: [LinkEntry]
}

/// `invitations_received`: the invitations members' nodes delivered to this node.
public struct ReceivedInvitationsResult: Sendable, Hashable, Codable {
    public var invitations: [ReceivedInvitationEntry]
}

/// `link_revoke`: the conversation and the whole token id revoked.
public struct LinkRevokedResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var tokenID: String
}

/// `grant`: the member (sc1…) and the permission they now have.
public struct GrantResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var member: String
    public var permission: String
}

/// `request_access`: the permission asked for.
public struct AccessRequestResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var permission: String
}

/// `requests`: the access requests of a conversation.
public struct AccessRequestsResult: Sendable, Hashable, Codable {
    public var requests: [AccessRequestEntry]
}

/// `mode`: whether the conversation is now public.
public struct ModeResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var isPublic: Bool

    enum CodingKeys: String, CodingKey {
        case conversation
        case isPublic = "public"
    }
}

/// `audit`: the entries (JSON) or the whole trail as CSV (`format` `csv`).
public struct AuditResult: Sendable, Hashable, Codable {
    /// One entry of the audit trail; keys are sc1… and names the members' display names.
    public struct Entry: Sendable, Hashable, Codable {
        public var at: UInt64
        public var action: String
        public var actor: String
        public var actorName: String?
        public var target: String?
        public var targetName: String?
        public var message: String?
        public var detail: String
        public var opID: String?

        /// The entry of `entry`, naming members by `names` where they have one.
        public init(_ entry: AuditEntry, names: [ReplicaID: String] = [:]) {
            at = entry.at
            action = entry.action.rawValue
            actor = PublicKey(entry.actor).text
            actorName = names[entry.actor]
            target = entry.target.map { PublicKey($0).text }
            targetName = entry.target.flatMap { names[$0] }
            message = entry.message.map(MessageReference.text)
            detail = entry.detail
            opID = entry.opID.map(MessageReference.text)
        }
    }

    public var conversation: String
    public var entries: [Entry]?
    public var csv: String?
}

/// `send`, `edit`, `delete`: the message's id (``MessageReference``).
public struct MessageResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var id: String
}

/// `revoke`: the member removed (sc1…).
public struct MemberRemovedResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var member: String
}

/// `log`: the messages in order, deleted ones included (flagged).
public struct LogResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var messages: [LogEntry]
}

/// `members`: the members, online ones first.
public struct MembersResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var members: [MemberEntry]
}

/// `conversations`: one line per conversation held.
public struct ConversationsResult: Sendable, Hashable, Codable {
    public struct Summary: Sendable, Hashable, Codable {
        public var id: String
        public var title: String
        public var messages: Int
        public var members: Int
        public var joining: Bool
    }

    public var conversations: [Summary]
}

/// `stop`: the daemon is shutting down.
public struct StopResult: Sendable, Hashable, Codable {
    public var stopping = true
    public init() {}
}
