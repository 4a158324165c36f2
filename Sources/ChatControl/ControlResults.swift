import ChatCore

// What each control command answers: the daemon encodes these, the CLI and scripts decode them.
// Their field names are the `--json` contract of the CLI: add fields, never rename one.

/// `create`, `join`, `decline`: the conversation (hex id).
public struct ConversationResult: Sendable, Hashable, Codable {
    public var conversation: String

    public init(conversation: String) {
        self.conversation = conversation
    }
}

/// `invite`: the conversation and the token (hex), and the link's short code when it has one.
public struct InviteResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var token: String
    public var code: String?

    public init(conversation: String, token: String, code: String? = nil) {
        self.conversation = conversation
        self.token = token
        self.code = code
    }
}

/// `link_list`: a conversation's links and invitations, newest first.
public struct LinksResult: Sendable, Hashable, Codable {
    public var links: [LinkEntry]

    public init(links: [LinkEntry]) {
        self.links = links
    }
}

/// `invitations`: a conversation's direct invitations (admins).
public struct InvitationsResult: Sendable, Hashable, Codable {
    public var invitations: [LinkEntry]

    public init(invitations: [LinkEntry]) {
        self.invitations = invitations
    }
}

/// `invitations_received`: the invitations members' nodes delivered to this node.
public struct ReceivedInvitationsResult: Sendable, Hashable, Codable {
    public var invitations: [ReceivedInvitationEntry]

    public init(invitations: [ReceivedInvitationEntry]) {
        self.invitations = invitations
    }
}

/// `link_revoke`: the conversation and the whole token id revoked.
public struct LinkRevokedResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var tokenID: String

    public init(conversation: String, tokenID: String) {
        self.conversation = conversation
        self.tokenID = tokenID
    }
}

/// `grant`: the member (sc1…) and the permission they now have.
public struct GrantResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var member: String
    public var permission: String

    public init(conversation: String, member: String, permission: String) {
        self.conversation = conversation
        self.member = member
        self.permission = permission
    }
}

/// `request_access`: the permission asked for.
public struct AccessRequestResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var permission: String
    /// Peers whose nodes have a session carrying the conversation now: with none, the request is
    /// signed and kept here, and goes out once a member's node connects (a node removed while it
    /// was away never gets one). Absent from older nodes.
    public var peers: Int?

    public init(conversation: String, permission: String, peers: Int? = nil) {
        self.conversation = conversation
        self.permission = permission
        self.peers = peers
    }
}

/// `requests`: the access requests of a conversation.
public struct AccessRequestsResult: Sendable, Hashable, Codable {
    public var requests: [AccessRequestEntry]

    public init(requests: [AccessRequestEntry]) {
        self.requests = requests
    }
}

/// `mode`: whether the conversation is now public.
public struct ModeResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var isPublic: Bool

    enum CodingKeys: String, CodingKey {
        case conversation
        case isPublic = "public"
    }

    public init(conversation: String, isPublic: Bool) {
        self.conversation = conversation
        self.isPublic = isPublic
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

        public init(at: UInt64, action: String, actor: String, actorName: String? = nil, target: String? = nil,
                    targetName: String? = nil, message: String? = nil, detail: String, opID: String? = nil) {
            self.at = at
            self.action = action
            self.actor = actor
            self.actorName = actorName
            self.target = target
            self.targetName = targetName
            self.message = message
            self.detail = detail
            self.opID = opID
        }
    }

    public var conversation: String
    public var entries: [Entry]?
    public var csv: String?

    public init(conversation: String, entries: [Entry]? = nil, csv: String? = nil) {
        self.conversation = conversation
        self.entries = entries
        self.csv = csv
    }
}

/// `send`, `edit`, `delete`: the message's id (``MessageReference``).
public struct MessageResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var id: String

    public init(conversation: String, id: String) {
        self.conversation = conversation
        self.id = id
    }
}

/// `revoke`: the member removed (sc1…).
public struct MemberRemovedResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var member: String

    public init(conversation: String, member: String) {
        self.conversation = conversation
        self.member = member
    }
}

/// `log`: the messages in order, deleted ones included (flagged).
public struct LogResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var messages: [LogEntry]

    public init(conversation: String, messages: [LogEntry]) {
        self.conversation = conversation
        self.messages = messages
    }
}

/// `members`: the members, online ones first.
public struct MembersResult: Sendable, Hashable, Codable {
    public var conversation: String
    public var members: [MemberEntry]

    public init(conversation: String, members: [MemberEntry]) {
        self.conversation = conversation
        self.members = members
    }
}

/// `conversations`: one line per conversation held.
public struct ConversationsResult: Sendable, Hashable, Codable {
    public struct Summary: Sendable, Hashable, Codable {
        public var id: String
        public var title: String
        public var messages: Int
        public var members: Int
        public var joining: Bool

        public init(id: String, title: String, messages: Int, members: Int, joining: Bool) {
            self.id = id
            self.title = title
            self.messages = messages
            self.members = members
            self.joining = joining
        }
    }

    public var conversations: [Summary]

    public init(conversations: [Summary]) {
        self.conversations = conversations
    }
}

/// `stop`: the daemon is shutting down.
public struct StopResult: Sendable, Hashable, Codable {
    public var stopping = true
    public init() {}
}
