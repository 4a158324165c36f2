/// Who is typing: the line under the message list ("Ana is typing…").
///
/// An entry lives while its user keeps sending typing updates; it disappears when they stop,
/// send a message, leave, or go 3 s without an update (``timeout``). The local user never has
/// an entry.
public struct TypingState: ConversationViewReducer, Hashable {
    /// One user typing.
    public struct Entry: Sendable, Hashable {
        /// The typing user.
        public var user: ReplicaID
        /// The name shown in the typing line.
        public var displayName: String
        /// When this run of typing began.
        public var startedAt: UInt64
        /// The latest typing update.
        public var lastUpdate: UInt64
    }

    /// How long an entry lasts after its last update, in ms.
    public static let timeout: UInt64 = 3_000

    /// The user never shown typing.
    public let localUser: ReplicaID
    /// The entries by user, expired or not (see ``typingUsers(now:)``).
    public private(set) var entries: [ReplicaID: Entry] = [:]

    /// Nobody typing, for `localUser`.
    public init(localUser: ReplicaID) {
        self.localUser = localUser
    }

    /// Reacts to typing start/stop/timeout, to a user leaving or renaming, and to a message from
    /// a typing user (which ends their typing).
    /// - Complexity: O(1).
    public mutating func reduce(_ action: ConversationViewAction) {
        switch action {
        case .userStartedTyping(let user, let displayName, let at):
            guard user != localUser else { return }
            guard var entry = entries[user] else {
                entries[user] = Entry(user: user, displayName: displayName, startedAt: at, lastUpdate: at)
                return
            }
            guard at >= entry.lastUpdate else { return }
            if at - entry.lastUpdate >= Self.timeout { entry.startedAt = at }
            entry.lastUpdate = at
            entry.displayName = displayName
            entries[user] = entry
        case .userStoppedTyping(let user, let at):
            if let entry = entries[user], entry.lastUpdate <= at { entries[user] = nil }
        case .typingTimeout(let user, let now):
            if let entry = entries[user], elapsed(since: entry.lastUpdate, now: now) >= Self.timeout {
                entries[user] = nil
            }
        case .messageReceived(let message):
            if let entry = entries[message.author], entry.lastUpdate <= message.postedAt {
                entries[message.author] = nil
            }
        case .userLeft(let user):
            entries[user] = nil
        case .userUpdated(let user, let profile):
            if !profile.displayName.isEmpty { entries[user]?.displayName = profile.displayName }
        case .userJoined, .permissionChanged, .cursorMoved, .cursorInactive, .cursorFocusChanged, .presenceUpdated,
             .userActivityDetected, .heartbeatSent, .customStatusSet:
            break
        }
        _checkInvariants()
    }

    /// The users typing at `now` (updated less than 3 s before), in the order they started, then
    /// by name.
    /// - Complexity: O(n log n) for n entries.
    public func typingUsers(now: UInt64) -> [Entry] {
        entries.values
            .filter { elapsed(since: $0.lastUpdate, now: now) < Self.timeout }
            .sorted { ($0.startedAt, $0.displayName, $0.user) < ($1.startedAt, $1.displayName, $1.user) }
    }

    /// "Ana is typing…", "Ana and Ben are typing…", "3 people are typing…", or nil when nobody is.
    public func typingLine(now: UInt64) -> String? {
        Self.typingLine(names: typingUsers(now: now).map(\.displayName))
    }

    /// The typing line for these names, in order.
    public static func typingLine(names: [String]) -> String? {
        switch names.count {
        case 0: nil
        case 1: "\(names[0]) is typing…"
        case 2: "\(names[0]) and \(names[1]) are typing…"
        default: "\(names.count) people are typing…"
        }
    }

    /// When the next entry expires after `now`, if any.
    public func nextExpiry(now: UInt64) -> UInt64? {
        entries.values.lazy.map { deadline($0.lastUpdate, plus: Self.timeout) }.filter { $0 > now }.min()
    }

    @inline(__always)
    func _checkInvariants() {
        #if CHAT_INTERNAL_CHECKS
        precondition(entries[localUser] == nil, "the local user is never shown typing")
        precondition(entries.allSatisfy { $0.key == $0.value.user }, "entries are keyed by their user")
        #endif
    }
}
