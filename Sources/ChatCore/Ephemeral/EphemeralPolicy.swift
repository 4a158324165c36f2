/// The time limits and rates of ephemeral state, in milliseconds and updates per second.
///
/// The defaults are the product plan's: typing shows for 3 s after its last update and is sent at
/// most once a second; cursors are sent at most 5 times a second and hidden after 30 s idle; a
/// heartbeat goes out every 30 s and a replica is offline only after 75 s of silence (so presence
/// does not flicker when one heartbeat is late); away after 5 minutes without activity.
public struct EphemeralPolicy: Sendable, Hashable {
    /// How long a typing indicator stays after its last update.
    public var typingTTL: UInt64
    /// How many typing-started updates an honest sender sends per second (stops are extra).
    public var typingMaxPerSecond: UInt32
    /// How many cursor updates an honest sender sends per second.
    public var cursorMaxPerSecond: UInt32
    /// How long a cursor stays visible after its last update.
    public var cursorIdle: UInt64
    /// How often an honest sender proves it is still there when it has nothing else to send.
    public var heartbeatInterval: UInt64
    /// Silence after which a replica counts as offline.
    public var offlineAfter: UInt64
    /// Inactivity after which an online replica counts as away.
    public var awayAfter: UInt64
    /// Updates sent longer ago than this (by the origin's clock against ours) are refused.
    public var maxAge: UInt64
    /// Updates sent further ahead of our clock than this are refused.
    public var maxFutureSkew: UInt64
    /// Presence, heartbeat and goodbye updates per second a receiver accepts from one origin on average.
    public var controlMaxPerSecond: UInt32
    /// How many seconds' worth of updates a receiver accepts at once from one origin (network bunching).
    public var receiveBurstSeconds: UInt32

    /// The product plan's defaults.
    public static let `default` = EphemeralPolicy()

    /// Creates a policy; every parameter defaults to the product plan's value.
    public init(typingTTL: UInt64 = 3_000, typingMaxPerSecond: UInt32 = 1, cursorMaxPerSecond: UInt32 = 5,
                cursorIdle: UInt64 = 30_000, heartbeatInterval: UInt64 = 30_000, offlineAfter: UInt64 = 75_000,
                awayAfter: UInt64 = 300_000, maxAge: UInt64 = 120_000, maxFutureSkew: UInt64 = 30_000,
                controlMaxPerSecond: UInt32 = 1, receiveBurstSeconds: UInt32 = 3) {
        self.typingTTL = typingTTL
        self.typingMaxPerSecond = typingMaxPerSecond
        self.cursorMaxPerSecond = cursorMaxPerSecond
        self.cursorIdle = cursorIdle
        self.heartbeatInterval = heartbeatInterval
        self.offlineAfter = offlineAfter
        self.awayAfter = awayAfter
        self.maxAge = maxAge
        self.maxFutureSkew = maxFutureSkew
        self.controlMaxPerSecond = controlMaxPerSecond
        self.receiveBurstSeconds = receiveBurstSeconds
    }
}
