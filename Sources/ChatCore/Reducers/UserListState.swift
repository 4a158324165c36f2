/// The conversation's members as the user list shows them: profiles, permissions and colours.
///
/// Members who left stay known (their messages keep a name and colour) but drop out of the list.
/// Colours come from ``UserColor/assignColors(members:)`` over every user ever seen here, so they
/// are distinct and do not shift when someone leaves; a colour in the user's profile wins.
public struct UserListState: ConversationViewReducer, Hashable {
    /// One known user.
    public struct Member: Sendable, Hashable {
        /// The user's latest profile.
        public var profile: Profile
        /// The level shown.
        public var permission: Permission
        /// True once the user left or was removed.
        public var hasLeft: Bool
    }

    /// The user this list is shown to.
    public let localUser: ReplicaID
    /// Every user seen, including those who left.
    public private(set) var members: [ReplicaID: Member] = [:]
    /// Assigned colours, one per known user.
    public private(set) var colors: [ReplicaID: RGB] = [:]

    /// No members, for `localUser`.
    public init(localUser: ReplicaID) {
        self.localUser = localUser
    }

    /// Reacts to joins, departures, profile and permission changes. A profile or permission for a
    /// user not yet seen adds them (with `view` and an empty name until told more).
    /// - Complexity: O(1), or O(n log n) to recolour when a new user appears.
    public mutating func reduce(_ action: ConversationViewAction) {
        switch action {
        case .userJoined(let user, let profile, let permission):
            upsert(user) { member in
                member.profile = profile
                member.permission = permission
                member.hasLeft = false
            }
        case .userLeft(let user):
            members[user]?.hasLeft = true
        case .userUpdated(let user, let profile):
            upsert(user) { $0.profile = profile }
        case .permissionChanged(let user, let permission):
            upsert(user) { member in
                member.permission = permission
                member.hasLeft = false
            }
        case .messageReceived, .userStartedTyping, .userStoppedTyping, .typingTimeout, .cursorMoved, .cursorInactive,
             .cursorFocusChanged, .presenceUpdated, .userActivityDetected, .heartbeatSent, .customStatusSet:
            break
        }
    }

    private mutating func upsert(_ user: ReplicaID, _ body: (inout Member) -> Void) {
        let isNew = members[user] == nil
        var member = members[user] ?? Member(profile: Profile(displayName: ""), permission: .view, hasLeft: false)
        body(&member)
        members[user] = member
        if isNew { colors = UserColor.assignColors(members: members.keys) }
    }

    /// The user's display name; "User " and the first eight hex digits of their key when they
    /// have not set one.
    public func displayName(of user: ReplicaID) -> String {
        guard let name = members[user]?.profile.displayName, !name.isEmpty else { return "User \(user)" }
        return name
    }

    /// The user's colour: their profile's choice, else the assigned one, else (a user never seen
    /// here) their preferred palette colour.
    public func color(of user: ReplicaID) -> RGB {
        if let chosen = members[user]?.profile.colour { return RGB(packed: chosen) }
        return colors[user] ?? UserColor.color(for: user)
    }

    /// The user's avatar: their profile's image, else an identicon in their colour.
    public func avatar(of user: ReplicaID) -> Avatar {
        if let image = members[user]?.profile.avatar, !image.isEmpty { return .image(image) }
        return .identicon(svg: Identicon.svg(for: user, color: color(of: user)))
    }

    /// The user's permission; nil when they are not (or no longer) a member.
    public func permission(of user: ReplicaID) -> Permission? {
        guard let member = members[user], !member.hasLeft else { return nil }
        return member.permission
    }

    /// The list at `now`: current members, online first (then away, do not disturb, offline),
    /// then by name ignoring case, then by key. `search` keeps names that contain it, ignoring
    /// case and surrounding spaces; `statuses`, when given, keeps those presence states only.
    /// - Complexity: O(n log n) for n members.
    public func rows(presence: PresenceState, now: UInt64, search: String = "",
                     statuses: Set<PresenceStatus>? = nil) -> [UserRow] {
        let query = Self.trimmed(search).lowercased()
        var rows: [(key: String, row: UserRow)] = []
        for (user, member) in members where !member.hasLeft {
            let name = displayName(of: user)
            let key = name.lowercased()
            guard query.isEmpty || key.contains(query) else { continue }
            let status = presence.status(of: user, now: now)
            guard statuses?.contains(status) ?? true else { continue }
            let entry = presence.entries[user]
            rows.append((key, UserRow(
                id: user, displayName: name, color: color(of: user), avatar: avatar(of: user), status: status,
                lastSeen: presence.lastSeenText(of: user, now: now),
                customStatus: entry?.customStatus ?? member.profile.status.flatMap { $0.isEmpty ? nil : $0 },
                statusEmoji: entry?.customEmoji ?? member.profile.statusEmoji.flatMap { $0.isEmpty ? nil : $0 },
                badge: PermissionBadge(member.permission), isLocalUser: user == localUser)))
        }
        rows.sort { ($0.row.status, $0.key, $0.row.id) < ($1.row.status, $1.key, $1.row.id) }
        return rows.map(\.row)
    }

    private static func trimmed(_ text: String) -> Substring {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = text.firstIndex(where: { !isSpace($0) }),
              let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return text[first ... last]
    }
}

/// One line of the user list.
public struct UserRow: Sendable, Hashable, Identifiable {
    public var id: ReplicaID
    /// The name shown.
    public var displayName: String
    /// The user's colour.
    public var color: RGB
    /// The user's avatar or identicon.
    public var avatar: Avatar
    /// The presence status at the list's `now`.
    public var status: PresenceStatus
    /// "online" or "last seen …".
    public var lastSeen: String
    /// The presence custom status if set, else the profile's.
    public var customStatus: String?
    /// The custom status emoji, if any.
    public var statusEmoji: String?
    /// The permission badge.
    public var badge: PermissionBadge
    /// True for the user the list is shown to.
    public var isLocalUser: Bool
}

/// A user's picture.
public enum Avatar: Sendable, Hashable {
    /// The profile's avatar reference (URL or data URI).
    case image(String)
    /// A generated identicon (``Identicon/svg(for:color:pixels:)``).
    case identicon(svg: String)
}

/// A permission badge for the user list.
public struct PermissionBadge: Sendable, Hashable {
    /// The level shown.
    public var permission: Permission

    /// The badge for `permission`.
    public init(_ permission: Permission) {
        self.permission = permission
    }

    /// "admin", "edit", "comment" or "view".
    public var name: String { permission.description }

    /// "Admin", "Editor", "Commenter" or "Read-only".
    public var label: String {
        switch permission {
        case .admin: "Admin"
        case .edit: "Editor"
        case .comment: "Commenter"
        case .view: "Read-only"
        }
    }
}
