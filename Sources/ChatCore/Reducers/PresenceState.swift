/// Everyone's presence: online, away, do not disturb or offline, custom status, "last seen".
///
/// The status shown at time `now` is derived:
/// - **offline** when the user was never heard from, said they went offline, or has been silent
///   (no heartbeat, activity or presence update) for 75 s (``offlineAfter``: two and a half
///   heartbeat intervals);
/// - otherwise **do not disturb** or **away** when the user set it;
/// - otherwise **away** when they have not been active for 5 minutes (``awayAfter``);
/// - otherwise **online**.
///
/// Activity (``ConversationViewAction/userActivityDetected(_:at:)``, typing, scrolling, focusing a
/// message) brings an away or offline user back online; a heartbeat brings back an offline one;
/// only the user ends do not disturb. Heartbeats are sent every 30 s (``heartbeatInterval``): the
/// local user's are recorded so that ``isHeartbeatDue(now:)`` says when to send the next.
public struct PresenceState: ConversationViewReducer, Hashable {
    /// What is known about one user's presence.
    public struct Entry: Sendable, Hashable {
        /// The status the user last reported (``PresenceStatus/online`` until they report one).
        public var reported: PresenceStatus
        /// When `reported` was set.
        public var reportedAt: UInt64
        /// The latest activity (or the first time the user was heard from).
        public var lastActive: UInt64
        /// The latest sign of life of any kind.
        public var lastSeen: UInt64
        /// Custom status text and emoji, nil when cleared.
        public var customStatus: String?
        /// The custom status emoji, nil when cleared.
        public var customEmoji: String?
        /// When the custom status was set.
        public var customStatusAt: UInt64

        init(firstSeen at: UInt64) {
            reported = .online
            reportedAt = 0
            lastActive = at
            lastSeen = at
            customStatusAt = 0
        }
    }

    /// How often a node sends a heartbeat, in ms.
    public static let heartbeatInterval: UInt64 = 30_000
    /// Silence after which a user counts as offline, in ms.
    public static let offlineAfter: UInt64 = 75_000
    /// Inactivity after which a user counts as away, in ms.
    public static let awayAfter: UInt64 = 300_000

    /// The user whose heartbeats this node sends.
    public let localUser: ReplicaID
    /// What is known of each user heard from.
    public private(set) var entries: [ReplicaID: Entry] = [:]
    /// When the local user last sent a heartbeat.
    public private(set) var lastHeartbeatSent: UInt64?

    /// Nobody heard from yet, for `localUser`.
    public init(localUser: ReplicaID) {
        self.localUser = localUser
    }

    /// Reacts to presence updates, activity (including typing and cursor actions), heartbeats and
    /// custom statuses. Timestamps only move forward: an older signal never undoes a newer one.
    /// - Complexity: O(1).
    public mutating func reduce(_ action: ConversationViewAction) {
        switch action {
        case .presenceUpdated(let user, let status, let at):
            update(user, at: at) { entry in
                if at >= entry.reportedAt {
                    entry.reported = status
                    entry.reportedAt = at
                }
                if status == .online { entry.lastActive = max(entry.lastActive, at) }
            }
        case .userActivityDetected(let user, let at), .userStartedTyping(let user, _, let at),
             .cursorMoved(let user, _, let at), .cursorFocusChanged(let user, _, let at):
            update(user, at: at) { entry in
                entry.lastActive = max(entry.lastActive, at)
                if entry.reported == .away || entry.reported == .offline, at >= entry.reportedAt {
                    entry.reported = .online
                    entry.reportedAt = at
                }
            }
        case .heartbeatSent(let user, let at):
            update(user, at: at) { entry in
                if entry.reported == .offline, at >= entry.reportedAt {
                    entry.reported = .online
                    entry.reportedAt = at
                }
            }
            if user == localUser { lastHeartbeatSent = max(lastHeartbeatSent ?? 0, at) }
        case .customStatusSet(let user, let status, let emoji, let at):
            update(user, at: at) { entry in
                guard at >= entry.customStatusAt else { return }
                entry.customStatus = status.flatMap { $0.isEmpty ? nil : $0 }
                entry.customEmoji = emoji.flatMap { $0.isEmpty ? nil : $0 }
                entry.customStatusAt = at
            }
        case .userJoined, .userLeft, .userUpdated, .permissionChanged, .messageReceived, .userStoppedTyping,
             .typingTimeout, .cursorInactive:
            break
        }
    }

    private mutating func update(_ user: ReplicaID, at: UInt64, _ body: (inout Entry) -> Void) {
        var entry = entries[user] ?? Entry(firstSeen: at)
        entry.lastSeen = max(entry.lastSeen, at)
        body(&entry)
        entries[user] = entry
    }

    /// The status shown for `user` at `now`.
    public func status(of user: ReplicaID, now: UInt64) -> PresenceStatus {
        guard let entry = entries[user] else { return .offline }
        if entry.reported == .offline || elapsed(since: entry.lastSeen, now: now) >= Self.offlineAfter {
            return .offline
        }
        switch entry.reported {
        case .doNotDisturb, .away: return entry.reported
        case .online, .offline: break
        }
        return elapsed(since: entry.lastActive, now: now) >= Self.awayAfter ? .away : .online
    }

    /// "online" for a user who is not offline (away and do-not-disturb users are connected too),
    /// "offline" for one never heard from, otherwise "last seen …" (``lastSeenText(lastSeen:now:)``).
    public func lastSeenText(of user: ReplicaID, now: UInt64) -> String {
        guard status(of: user, now: now) == .offline else { return "online" }
        guard let entry = entries[user] else { return "offline" }
        return Self.lastSeenText(lastSeen: entry.lastSeen, now: now)
    }

    /// "last seen just now" (under a minute), "last seen 5 minutes ago" (under an hour),
    /// "last seen 2 hours ago" (under a day), "last seen yesterday" (one to two days: elapsed
    /// time, not calendar days, since pure code has no time zone), "last seen 3 days ago".
    public static func lastSeenText(lastSeen: UInt64, now: UInt64) -> String {
        let minute: UInt64 = 60_000, hour = 60 * minute, day = 24 * hour
        let ago = elapsed(since: lastSeen, now: now)
        func plural(_ count: UInt64, _ unit: String) -> String {
            "last seen \(count) \(unit)\(count == 1 ? "" : "s") ago"
        }
        if ago < minute { return "last seen just now" }
        if ago < hour { return plural(ago / minute, "minute") }
        if ago < day { return plural(ago / hour, "hour") }
        if ago < 2 * day { return "last seen yesterday" }
        return plural(ago / day, "day")
    }

    /// When the local user's next heartbeat is due: `lastHeartbeatSent + 30 s`, or 0 before the first.
    public var nextHeartbeatDue: UInt64 {
        lastHeartbeatSent.map { deadline($0, plus: Self.heartbeatInterval) } ?? 0
    }

    /// True when the local user should send a heartbeat at `now`.
    public func isHeartbeatDue(now: UInt64) -> Bool {
        now >= nextHeartbeatDue
    }

    /// The earliest time after `now` at which a status changes by itself (away, offline) or the
    /// next heartbeat falls due, if any.
    /// - Complexity: O(n) for n users.
    public func nextTransition(now: UInt64) -> UInt64? {
        var next: UInt64? = nil
        func consider(_ time: UInt64) {
            if time > now, time < (next ?? .max) { next = time }
        }
        consider(nextHeartbeatDue)
        for entry in entries.values where entry.reported != .offline {
            let offline = deadline(entry.lastSeen, plus: Self.offlineAfter)
            consider(offline)
            let away = deadline(entry.lastActive, plus: Self.awayAfter)
            if entry.reported == .online, away < offline { consider(away) }
        }
        return next
    }
}
