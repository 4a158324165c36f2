/// A piece of conversation view state that ``ConversationViewAction``s update. Conformers
/// implement the mutating `reduce(_:)`; the pure `(State, Action) -> State` form comes with it.
///
/// Every slice sees every action and ignores those that do not concern it, so slices compose by
/// feeding each the same action.
public protocol ConversationViewReducer: Sendable {
    /// Updates the state for `action`.
    mutating func reduce(_ action: ConversationViewAction)
}

extension ConversationViewReducer {
    /// The reducer as a pure function: the state after `action`.
    public static func reduce(_ state: Self, _ action: ConversationViewAction) -> Self {
        var next = state
        next.reduce(action)
        return next
    }

    /// A copy of the state after `action`.
    public func reduced(_ action: ConversationViewAction) -> Self {
        Self.reduce(self, action)
    }

    /// Updates the state for each action in order.
    public mutating func reduce(contentsOf actions: some Sequence<ConversationViewAction>) {
        for action in actions { reduce(action) }
    }
}

/// Everything a conversation screen shows, as seen by `localUser`: the user list, the messages,
/// who is typing, where the others are scrolled, and everyone's presence.
///
/// Pure: ``ConversationViewAction``s come in with their times, and each derived view takes the
/// current time `now` (ms since the Unix epoch) as a parameter, so expiry (typing after 3 s,
/// cursors after 30 s, away after 5 min, offline after 75 s) needs no timer inside the state; a
/// shell that wants to redraw exactly when something expires asks ``nextDeadline(now:)``.
public struct ConversationViewState: ConversationViewReducer, Hashable {
    /// The user this view is for: never shown as typing or as a live cursor; their permission
    /// decides which message actions are offered.
    public let localUser: ReplicaID
    /// Members, profiles, permissions and colours.
    public private(set) var users: UserListState
    /// The messages in display order.
    public private(set) var messages: MessageListState
    /// Who is typing.
    public private(set) var typing: TypingState
    /// The other users' scroll positions and focus.
    public private(set) var cursors: CursorState
    /// Everyone's presence and the local heartbeat.
    public private(set) var presence: PresenceState

    /// An empty view for `localUser`.
    public init(localUser: ReplicaID) {
        self.localUser = localUser
        users = UserListState(localUser: localUser)
        messages = MessageListState(localUser: localUser)
        typing = TypingState(localUser: localUser)
        cursors = CursorState(localUser: localUser)
        presence = PresenceState(localUser: localUser)
    }

    /// Feeds `action` to every slice.
    /// - Complexity: O(log n) per slice, except O(n log n) recolouring when a new user appears.
    public mutating func reduce(_ action: ConversationViewAction) {
        users.reduce(action)
        messages.reduce(action)
        typing.reduce(action)
        cursors.reduce(action)
        presence.reduce(action)
    }

    /// The user list at `now`: members who have not left, online first, then by name; only names
    /// containing `search` (case-insensitive) and, when given, only the `statuses` listed.
    /// - Complexity: O(n log n) for n members.
    public func userList(now: UInt64, search: String = "", statuses: Set<PresenceStatus>? = nil) -> [UserRow] {
        users.rows(presence: presence, now: now, search: search, statuses: statuses)
    }

    /// "Ana is typing…", "Ana and Ben are typing…", "3 people are typing…", or nil.
    public func typingLine(now: UInt64) -> String? {
        typing.typingLine(now: now)
    }

    /// The other users' cursors that are active at `now`, in key order, with names and colours.
    public func liveCursors(now: UInt64) -> [CursorRow] {
        cursors.visibleCursors(now: now).map { entry in
            CursorRow(user: entry.user, displayName: users.displayName(of: entry.user), color: users.color(of: entry.user),
                      relativePosition: entry.position.relativePosition, focusedMessage: entry.focusedMessage,
                      lastUpdated: entry.lastUpdated)
        }
    }

    /// Where to go to see what `user` sees: the message they focus, if it is still shown, otherwise
    /// their relative position applied to the local list's geometry. Nil when their cursor is hidden.
    public func jumpTarget(to user: ReplicaID, now: UInt64, localScrollHeight: Double,
                           localViewportHeight: Double) -> CursorJumpTarget? {
        let target = cursors.jumpTarget(to: user, now: now, localScrollHeight: localScrollHeight,
                                        localViewportHeight: localViewportHeight)
        if case .message(let id) = target, messages.messages[id].map({ $0.isDeleted }) ?? true,
           let entry = cursors.entries[user] {
            return .scrollOffset(CursorState.scrollOffset(for: entry.position, localScrollHeight: localScrollHeight,
                                                          localViewportHeight: localViewportHeight))
        }
        return target
    }

    /// The messages with author names, colours, avatars, markers, and the actions offered to the
    /// local user.
    /// - Complexity: O(messages).
    public func messageRows() -> [MessageRow] {
        messages.rows(users: users)
    }

    /// Whether the local user may send, and why not.
    public var composer: ComposerState {
        ComposerState(permission: users.permission(of: localUser))
    }

    /// The earliest time after `now` at which a derived view changes without any new action
    /// (a typing entry or cursor expires, someone turns away or offline, a heartbeat falls due),
    /// or nil if nothing will. "Last seen" texts also change every minute; they are not counted.
    public func nextDeadline(now: UInt64) -> UInt64? {
        [typing.nextExpiry(now: now), cursors.nextExpiry(now: now), presence.nextTransition(now: now)]
            .compactMap { $0 }.min()
    }
}

/// Milliseconds from `start` to `now`; 0 when `start` is later (a peer's clock ahead of ours).
@inline(__always)
func elapsed(since start: UInt64, now: UInt64) -> UInt64 {
    now >= start ? now - start : 0
}

/// `time + duration`, saturating at `UInt64.max` instead of trapping on a peer's absurd timestamp.
@inline(__always)
func deadline(_ time: UInt64, plus duration: UInt64) -> UInt64 {
    let (sum, overflow) = time.addingReportingOverflow(duration)
    return overflow ? .max : sum
}
