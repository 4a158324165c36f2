import ChatCore

/// A member as `members` shows it.
public struct MemberEntry: Sendable, Hashable, Codable {
    public var key: String
    public var name: String?
    public var permission: String
    /// True when this node has a session with the member (or it is this node).
    public var online: Bool
    public var isSelf: Bool
    /// True when the member's node signed two different batches for the same counters: its
    /// operations from the fork point on are excluded everywhere.
    public var equivocated: Bool = false
    /// The counter from which its operations are excluded, when it equivocated.
    public var forkPoint: UInt32?
    /// online, away, dnd or offline: its announced presence (away after idling), as the chat
    /// shows it; without any presence heard, online while connected.
    public var status: String = "offline"
    /// Its custom status text, from its presence or else its profile.
    public var customStatus: String?
    /// When this node last heard from it or saw it post (ms since the Unix epoch); nil if never.
    public var lastSeen: UInt64?

    public init(key: String, name: String? = nil, permission: String, online: Bool, isSelf: Bool,
                equivocated: Bool = false, forkPoint: UInt32? = nil, status: String = "offline",
                customStatus: String? = nil, lastSeen: UInt64? = nil) {
        self.key = key
        self.name = name
        self.permission = permission
        self.online = online
        self.isSelf = isSelf
        self.equivocated = equivocated
        self.forkPoint = forkPoint
        self.status = status
        self.customStatus = customStatus
        self.lastSeen = lastSeen
    }
}
