/// Something that happened which changes what a conversation's UI shows: membership and profiles
/// from the document, messages, and the ephemeral typing, cursor and presence signals.
///
/// Times are milliseconds since the Unix epoch, passed in by the caller (for a peer's signal, the
/// time the peer stamped on it or the time it arrived). Reducers never read a clock, and an older
/// signal never undoes a newer one for the same user.
public enum ConversationViewAction: Sendable, Hashable {
    /// A member joined (or rejoined) with a profile and a permission level.
    case userJoined(ReplicaID, profile: Profile, permission: Permission)
    /// A member left or was removed. Their messages keep their name and colour.
    case userLeft(ReplicaID)
    /// A member changed their profile.
    case userUpdated(ReplicaID, profile: Profile)
    /// An admin changed a member's permission level.
    case permissionChanged(ReplicaID, permission: Permission)
    /// A message appeared or changed (edited, deleted). Its author is `message.id.replica`.
    case messageReceived(MessageSnapshot)
    /// A user typed at `at`; repeated while they keep typing.
    case userStartedTyping(ReplicaID, displayName: String, at: UInt64)
    /// A user stopped typing at `at` (sent, cleared or left the input).
    case userStoppedTyping(ReplicaID, at: UInt64)
    /// A typing timer fired at `now`: the user's entry goes if it is at least 3 s old.
    case typingTimeout(ReplicaID, now: UInt64)
    /// A user scrolled.
    case cursorMoved(ReplicaID, position: CursorPosition, at: UInt64)
    /// A user's cursor went inactive at `at` (window hidden, view closed).
    case cursorInactive(ReplicaID, at: UInt64)
    /// A user focused a message, or none.
    case cursorFocusChanged(ReplicaID, message: OpID?, at: UInt64)
    /// A user reported a presence status (set by hand, or their own auto-away).
    case presenceUpdated(ReplicaID, status: PresenceStatus, at: UInt64)
    /// A user was active (keyboard, pointer) at `at`.
    case userActivityDetected(ReplicaID, at: UInt64)
    /// A heartbeat: sent by the local user, or received from a peer, at `at`.
    case heartbeatSent(ReplicaID, at: UInt64)
    /// A user set (or, with nil, cleared) their custom status text and emoji.
    case customStatusSet(ReplicaID, status: String?, emoji: String?, at: UInt64)
}

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

/// Where a user is scrolled in the conversation, in their own pixels.
public struct CursorPosition: Sendable, Hashable {
    /// The scroll offset from the top.
    public var scrollTop: Double
    /// The height of the whole scrollable message list.
    public var scrollHeight: Double
    /// The height of the visible part.
    public var viewportHeight: Double

    /// Creates a position from the scroll view's three measures.
    public init(scrollTop: Double, scrollHeight: Double, viewportHeight: Double) {
        self.scrollTop = scrollTop
        self.scrollHeight = scrollHeight
        self.viewportHeight = viewportHeight
    }

    /// `scrollTop / max(1, scrollHeight − viewportHeight)`, clamped to 0…1: 0 at the top, 1 at the
    /// bottom, comparable between screens of different sizes. Values that are not finite count as 0.
    public var relativePosition: Double {
        guard scrollTop.isFinite, scrollHeight.isFinite, viewportHeight.isFinite else { return 0 }
        let relative = scrollTop / max(1, scrollHeight - viewportHeight)
        return min(1, max(0, relative))
    }
}

/// One message as the UI needs it: an immutable copy of a ``MessageRecord``'s visible state.
public struct MessageSnapshot: Sendable, Hashable {
    /// The message id; its replica is the author.
    public var id: OpID
    /// The current text.
    public var text: String
    /// The author's signed timestamp, ms since the Unix epoch.
    public var postedAt: UInt64
    /// True once the text was edited.
    public var isEdited: Bool
    /// True once the message was deleted.
    public var isDeleted: Bool

    /// The author of the message.
    public var author: ReplicaID { id.replica }

    /// Creates a snapshot.
    public init(id: OpID, text: String, postedAt: UInt64, isEdited: Bool = false, isDeleted: Bool = false) {
        self.id = id
        self.text = text
        self.postedAt = postedAt
        self.isEdited = isEdited
        self.isDeleted = isDeleted
    }

    /// Copies a document's message record.
    /// - Complexity: O(length of the text).
    public init(_ record: MessageRecord) {
        self.init(id: record.id, text: record.body.text, postedAt: record.postedAt, isEdited: record.isEdited,
                  isDeleted: record.isDeleted)
    }
}
