import ChatCore

/// What `chat-state` returns: everything the terminal chat draws, in one answer.
public struct ChatState: Sendable, Hashable, Codable {
    /// A member as the chat's member list shows it.
    public struct Member: Sendable, Hashable, Codable {
        /// The member's public key (sc1…).
        public var key: String
        /// The display name (or "User" and a key prefix).
        public var name: String
        /// view, comment, edit or admin.
        public var permission: String
        /// online, away, dnd or offline.
        public var status: String
        /// The presence's custom status, else the profile's.
        public var customStatus: String?
        /// The member's colour, `#RRGGBB`.
        public var color: String
        /// True for this node.
        public var isSelf: Bool
        /// When this node last heard from the member (ms since the Unix epoch), if ever.
        public var lastSeen: UInt64?
        /// The member's generated avatar, an SVG document (``Identicon``) in their colour.
        public var identicon: String?

        /// A member row.
        public init(key: String, name: String, permission: String, status: String, customStatus: String?,
                    color: String, isSelf: Bool, lastSeen: UInt64? = nil, identicon: String? = nil) {
            self.key = key
            self.name = name
            self.permission = permission
            self.status = status
            self.customStatus = customStatus
            self.color = color
            self.isSelf = isSelf
            self.lastSeen = lastSeen
            self.identicon = identicon
        }
    }

    /// A line of the timeline between messages: a join, a removal, a permission change, …
    public struct Note: Sendable, Hashable, Codable {
        /// ms since the Unix epoch (the signed time of the operation).
        public var at: UInt64
        /// created, joined, added, permission, removed, left, mode, invited, declined or request.
        public var kind: String
        /// The line, with names.
        public var text: String
        /// The member it concerns (sc1…), if any.
        public var subject: String?

        /// A note.
        public init(at: UInt64, kind: String, text: String, subject: String? = nil) {
            self.at = at
            self.kind = kind
            self.text = text
            self.subject = subject
        }
    }

    /// Who is reading which message.
    public struct CursorEntry: Sendable, Hashable, Codable {
        /// The reader's key (sc1…).
        public var key: String
        /// The reader's name.
        public var name: String
        /// The focused message's id.
        public var message: String

        /// A cursor row.
        public init(key: String, name: String, message: String) {
            self.key = key
            self.name = name
            self.message = message
        }
    }

    /// The conversation's id (hex).
    public var conversation: String
    /// Its title.
    public var title: String
    /// This node's key (sc1…).
    public var me: String
    /// This node's display name here, if it is a member.
    public var myName: String?
    /// This node's permission, or `none`.
    public var permission: String
    /// Whether this node may post.
    public var canSend: Bool
    /// Why not, when it may not.
    public var reason: String?
    /// The latest ``NodeChatControl/messageLimit`` messages, in order.
    public var messages: [LogEntry]
    /// How many messages the log holds in all.
    public var totalMessages: Int
    /// Members: online first, then away, dnd, offline; then by name.
    public var members: [Member]
    /// Every member's and author's colour (`#RRGGBB`) by key (sc1…), distinct within the conversation.
    public var colors: [String: String]
    /// Names of the members typing now, this node excluded.
    public var typing: [String]
    /// Other members' focused messages.
    public var cursors: [CursorEntry]
    /// Peers with a session sharing this conversation.
    public var peers: Int
    /// True while this node's join is not yet acknowledged.
    public var joining: Bool
    /// Batches waiting for their dependencies.
    public var pending: Int
    /// The node's wall clock when it answered (ms since the Unix epoch).
    public var now: UInt64
    /// The node's change revision this state reflects (pass it as `after` to wait for the next).
    public var revision: UInt64
    /// Direct invitations delivered to this node and still pending (to any conversation).
    public var invitations: [ReceivedInvitationEntry]
    /// The latest ``NodeChatControl/noteLimit`` timeline notes, in the log's order.
    public var notes: [Note]
    /// Access requests not granted yet (counted for admins only; 0 otherwise).
    public var openRequests: Int

    /// A chat state with every field given.
    public init(conversation: String, title: String, me: String, myName: String?, permission: String, canSend: Bool,
                reason: String?, messages: [LogEntry], totalMessages: Int, members: [Member], colors: [String: String],
                typing: [String],
                cursors: [CursorEntry], peers: Int, joining: Bool, pending: Int, now: UInt64, revision: UInt64 = 0,
                invitations: [ReceivedInvitationEntry] = [], notes: [Note] = [], openRequests: Int = 0) {
        self.conversation = conversation
        self.title = title
        self.me = me
        self.myName = myName
        self.permission = permission
        self.canSend = canSend
        self.reason = reason
        self.messages = messages
        self.totalMessages = totalMessages
        self.members = members
        self.colors = colors
        self.typing = typing
        self.cursors = cursors
        self.peers = peers
        self.joining = joining
        self.pending = pending
        self.now = now
        self.revision = revision
        self.invitations = invitations
        self.notes = notes
        self.openRequests = openRequests
    }
}
