/// Where the other users are in the conversation: their scroll positions and focused messages.
///
/// A cursor is shown while it was updated less than 30 s ago (``inactiveAfter``) and until its
/// user goes inactive or leaves. The local user never has a cursor here.
public struct CursorState: ConversationViewReducer, Hashable {
    /// One user's cursor.
    public struct Entry: Sendable, Hashable {
        /// The cursor's user.
        public var user: ReplicaID
        /// Their latest scroll position.
        public var position: CursorPosition
        /// The message the user focuses, if any.
        public var focusedMessage: OpID?
        /// The latest move or focus change.
        public var lastUpdated: UInt64
    }

    /// How long a cursor stays visible without an update, in ms.
    public static let inactiveAfter: UInt64 = 30_000

    /// The user whose own cursor is never tracked.
    public let localUser: ReplicaID
    /// The cursors, hidden or not, by user.
    public private(set) var entries: [ReplicaID: Entry] = [:]

    /// No cursors, for `localUser`.
    public init(localUser: ReplicaID) {
        self.localUser = localUser
    }

    /// Reacts to cursor moves, focus changes and inactivity, to a user leaving, and to the
    /// deletion of a focused message (the focus is dropped).
    /// - Complexity: O(1), except O(n) for a deleted message.
    public mutating func reduce(_ action: ConversationViewAction) {
        switch action {
        case .cursorMoved(let user, let position, let at):
            guard user != localUser else { return }
            if var entry = entries[user] {
                guard at >= entry.lastUpdated else { return }
                entry.position = position
                entry.lastUpdated = at
                entries[user] = entry
            } else {
                entries[user] = Entry(user: user, position: position, focusedMessage: nil, lastUpdated: at)
            }
        case .cursorFocusChanged(let user, let message, let at):
            guard user != localUser else { return }
            if var entry = entries[user] {
                guard at >= entry.lastUpdated else { return }
                entry.focusedMessage = message
                entry.lastUpdated = at
                entries[user] = entry
            } else {
                let top = CursorPosition(scrollTop: 0, scrollHeight: 0, viewportHeight: 0)
                entries[user] = Entry(user: user, position: top, focusedMessage: message, lastUpdated: at)
            }
        case .cursorInactive(let user, let at):
            if let entry = entries[user], entry.lastUpdated <= at { entries[user] = nil }
        case .userLeft(let user):
            entries[user] = nil
        case .messageReceived(let message) where message.isDeleted:
            for (user, entry) in entries where entry.focusedMessage == message.id {
                entries[user]?.focusedMessage = nil
            }
        case .userJoined, .userUpdated, .permissionChanged, .messageReceived, .userStartedTyping, .userStoppedTyping,
             .typingTimeout, .presenceUpdated, .userActivityDetected, .heartbeatSent, .customStatusSet:
            break
        }
        _checkInvariants()
    }

    /// The cursors shown at `now` (updated less than 30 s before), in key order.
    /// - Complexity: O(n log n) for n cursors.
    public func visibleCursors(now: UInt64) -> [Entry] {
        entries.values
            .filter { elapsed(since: $0.lastUpdated, now: now) < Self.inactiveAfter }
            .sorted { $0.user < $1.user }
    }

    /// Where to go to see what `user` sees: their focused message, or else their relative
    /// position applied to the local list (``scrollOffset(for:localScrollHeight:localViewportHeight:)``).
    /// Nil when their cursor is not shown at `now`.
    public func jumpTarget(to user: ReplicaID, now: UInt64, localScrollHeight: Double,
                           localViewportHeight: Double) -> CursorJumpTarget? {
        guard let entry = entries[user], elapsed(since: entry.lastUpdated, now: now) < Self.inactiveAfter else {
            return nil
        }
        if let message = entry.focusedMessage { return .message(message) }
        return .scrollOffset(Self.scrollOffset(for: entry.position, localScrollHeight: localScrollHeight,
                                               localViewportHeight: localViewportHeight))
    }

    /// The local `scrollTop` at the same relative position: `relative × max(0, height − viewport)`.
    public static func scrollOffset(for position: CursorPosition, localScrollHeight: Double,
                                    localViewportHeight: Double) -> Double {
        let range = localScrollHeight - localViewportHeight
        guard range.isFinite, range > 0 else { return 0 }
        return position.relativePosition * range
    }

    /// When the next cursor hides after `now`, if any.
    public func nextExpiry(now: UInt64) -> UInt64? {
        entries.values.lazy.map { deadline($0.lastUpdated, plus: Self.inactiveAfter) }.filter { $0 > now }.min()
    }

    @inline(__always)
    func _checkInvariants() {
        #if CHAT_INTERNAL_CHECKS
        precondition(entries[localUser] == nil, "the local user has no live cursor")
        precondition(entries.allSatisfy { $0.key == $0.value.user }, "entries are keyed by their user")
        #endif
    }
}

/// Where "jump to this user" scrolls.
public enum CursorJumpTarget: Sendable, Hashable {
    /// Scroll the message into view.
    case message(OpID)
    /// Scroll to this local `scrollTop`.
    case scrollOffset(Double)
}

/// A live cursor ready to draw.
public struct CursorRow: Sendable, Hashable, Identifiable {
    /// The cursor's user.
    public var user: ReplicaID
    /// The user's display name.
    public var displayName: String
    /// The user's colour.
    public var color: RGB
    /// 0 (top) … 1 (bottom).
    public var relativePosition: Double
    /// The message the user focuses, if any.
    public var focusedMessage: OpID?
    /// The latest move or focus change.
    public var lastUpdated: UInt64

    public var id: ReplicaID { user }
}
