/// A user's presence status. Ordered as the user list sorts: online first, offline last.
public enum PresenceStatus: UInt8, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    case online = 0
    case away = 1
    /// Do not disturb: set by hand, never changed automatically.
    case doNotDisturb = 2
    case offline = 3

    public static func < (lhs: PresenceStatus, rhs: PresenceStatus) -> Bool { lhs.rawValue < rhs.rawValue }

    /// "online", "away", "dnd" or "offline".
    public var description: String {
        switch self {
        case .online: "online"
        case .away: "away"
        case .doNotDisturb: "dnd"
        case .offline: "offline"
        }
    }
}

/// What a replica says about its availability.
public struct Presence: Sendable, Hashable {
    /// The status the user chose (or their client derived).
    public var status: PresenceStatus
    /// When the user last did something (keyboard, pointer), in milliseconds since the Unix epoch
    /// on the origin's clock.
    public var lastActiveAt: UInt64
    /// A short status message ("in a meeting"); at most 256 UTF-8 bytes on the wire.
    public var customStatus: String?
    /// An emoji shown next to the status; at most 256 UTF-8 bytes on the wire.
    public var statusEmoji: String?

    /// Creates a presence announcement.
    public init(status: PresenceStatus, lastActiveAt: UInt64, customStatus: String? = nil, statusEmoji: String? = nil) {
        self.status = status
        self.lastActiveAt = lastActiveAt
        self.customStatus = customStatus
        self.statusEmoji = statusEmoji
    }
}

/// Whether a replica is composing, and where.
public struct Typing: Sendable, Hashable {
    /// True while the user types; false stops the indicator at once.
    public var isTyping: Bool
    /// The message whose text is being edited; nil for the composer (a new message).
    public var message: OpID?

    /// Creates a typing announcement.
    public init(isTyping: Bool, message: OpID? = nil) {
        self.isTyping = isTyping
        self.message = message
    }
}

/// Where a replica is looking in the conversation.
public struct Cursor: Sendable, Hashable {
    /// The scroll offset from the top, in pixels.
    public var scrollTop: UInt32
    /// The total scrollable height, in pixels.
    public var scrollHeight: UInt32
    /// The height of the visible area, in pixels.
    public var viewportHeight: UInt32
    /// The message that has focus (selected, being read); nil for none.
    public var focusedMessage: OpID?

    /// Creates a cursor announcement.
    public init(scrollTop: UInt32, scrollHeight: UInt32, viewportHeight: UInt32, focusedMessage: OpID? = nil) {
        self.scrollTop = scrollTop
        self.scrollHeight = scrollHeight
        self.viewportHeight = viewportHeight
        self.focusedMessage = focusedMessage
    }
}

/// The kinds of ephemeral update; the raw value is the wire tag.
public enum EphemeralKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// ``EphemeralPayload/presence(_:)``.
    case presence = 1
    /// ``EphemeralPayload/typing(_:)``.
    case typing = 2
    /// ``EphemeralPayload/cursor(_:)``.
    case cursor = 3
    /// ``EphemeralPayload/heartbeat``.
    case heartbeat = 4
    /// ``EphemeralPayload/goodbye``.
    case goodbye = 5

    public var description: String {
        switch self {
        case .presence: "presence"
        case .typing: "typing"
        case .cursor: "cursor"
        case .heartbeat: "heartbeat"
        case .goodbye: "goodbye"
        }
    }
}

/// The content of one ephemeral update.
public enum EphemeralPayload: Sendable, Hashable {
    /// The origin's availability and status message.
    case presence(Presence)
    /// The origin started, continues or stopped typing.
    case typing(Typing)
    /// The origin's viewport and focus.
    case cursor(Cursor)
    /// "Still here": keeps the origin online without changing anything else.
    case heartbeat
    /// The origin leaves: offline at once, its typing and cursor hidden.
    case goodbye

    /// The kind of the payload.
    public var kind: EphemeralKind {
        switch self {
        case .presence: .presence
        case .typing: .typing
        case .cursor: .cursor
        case .heartbeat: .heartbeat
        case .goodbye: .goodbye
        }
    }
}

/// One ephemeral update as its origin signs it: never stored in the op log, only gossiped and
/// kept in memory until it expires.
///
/// `counter` is the origin's update counter: strictly increasing over all of the origin's updates
/// (``EphemeralCounter`` keeps it increasing across restarts without storing anything), so a
/// replayed or overtaken update never replaces a newer one. `sentAt` is the origin's clock in
/// milliseconds since the Unix epoch; receivers refuse updates too far from their own clock.
public struct EphemeralUpdate: Sendable, Hashable {
    /// The conversation the update is about.
    public var conversation: ConversationID
    /// The replica that made and signed the update.
    public var origin: ReplicaID
    /// The origin's update counter.
    public var counter: UInt64
    /// The origin's clock when it sent the update, in milliseconds since the Unix epoch.
    public var sentAt: UInt64
    /// What the update says.
    public var payload: EphemeralPayload

    /// Creates an update.
    public init(conversation: ConversationID, origin: ReplicaID, counter: UInt64, sentAt: UInt64, payload: EphemeralPayload) {
        self.conversation = conversation
        self.origin = origin
        self.counter = counter
        self.sentAt = sentAt
        self.payload = payload
    }
}
