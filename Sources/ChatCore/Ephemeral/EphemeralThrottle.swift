/// The honest sender's self-restraint: at most ``EphemeralPolicy/typingMaxPerSecond`` typing-started
/// updates and ``EphemeralPolicy/cursorMaxPerSecond`` cursor updates in any one-second window, and
/// a heartbeat when nothing was sent for ``EphemeralPolicy/heartbeatInterval``.
///
/// Stop-typing, presence, heartbeat and goodbye always go out: dropping one would leave receivers
/// with a wrong final state. A refused cursor update should be retried with the latest position at
/// ``earliestSend(of:now:)`` so the last position is not lost. Pure: `now` is passed in.
public struct EphemeralThrottle: Sendable, Hashable {
    /// Rates and intervals.
    public var policy: EphemeralPolicy
    private var typingStarts = SlidingWindow()
    private var cursorMoves = SlidingWindow()
    /// When the last update of any kind went out.
    private var lastSent: UInt64?
    /// True after a goodbye, until something else is sent.
    private var hasLeft = false

    /// Creates a throttle that has sent nothing yet.
    public init(policy: EphemeralPolicy = .default) { self.policy = policy }

    /// Whether `payload` may be sent at `now`; when true, the send is recorded.
    /// - Complexity: O(r), r the per-second rate of its kind.
    public mutating func shouldSend(_ payload: EphemeralPayload, now: UInt64) -> Bool {
        switch payload {
        case .typing(let typing) where typing.isTyping:
            guard typingStarts.allows(now: now, limit: Int(policy.typingMaxPerSecond)) else { return false }
            typingStarts.record(now, limit: Int(policy.typingMaxPerSecond))
        case .cursor:
            guard cursorMoves.allows(now: now, limit: Int(policy.cursorMaxPerSecond)) else { return false }
            cursorMoves.record(now, limit: Int(policy.cursorMaxPerSecond))
        case .typing, .presence, .heartbeat, .goodbye:
            break
        }
        lastSent = max(lastSent ?? now, now)
        hasLeft = payload == .goodbye
        return true
    }

    /// Whether a heartbeat is due: nothing (of any kind — every update proves liveness) was sent
    /// for ``EphemeralPolicy/heartbeatInterval``, or nothing was ever sent. Never after a goodbye.
    ///
    /// A client whose user was active since its last presence update should send a presence update
    /// with a fresh `lastActiveAt` instead of a bare heartbeat, so receivers do not turn it away.
    /// - Complexity: O(1).
    public func heartbeatDue(now: UInt64) -> Bool {
        guard !hasLeft else { return false }
        guard let lastSent else { return true }
        return now < lastSent || now - lastSent >= policy.heartbeatInterval
    }

    /// The earliest time at or after `now` when an update of `kind` may go out (for a timer that
    /// sends the latest cursor position after a refused one), or for a heartbeat when it falls due;
    /// `UInt64.max` for a heartbeat after a goodbye (none is due until something else is sent).
    /// - Complexity: O(1).
    public func earliestSend(of kind: EphemeralKind, now: UInt64) -> UInt64 {
        switch kind {
        case .typing:
            return typingStarts.earliest(now: now, limit: Int(policy.typingMaxPerSecond))
        case .cursor:
            return cursorMoves.earliest(now: now, limit: Int(policy.cursorMaxPerSecond))
        case .heartbeat:
            guard !hasLeft else { return .max }
            guard let lastSent, !heartbeatDue(now: now) else { return now }
            let (due, overflow) = lastSent.addingReportingOverflow(policy.heartbeatInterval)
            return overflow ? .max : max(now, due)
        case .presence, .goodbye:
            return now
        }
    }
}

/// At most `limit` events in any window of `SlidingWindow.window` milliseconds: the times of the
/// last `limit` events, oldest first.
struct SlidingWindow: Sendable, Hashable {
    static let window: UInt64 = 1_000
    private(set) var times: [UInt64] = []

    func allows(now: UInt64, limit: Int) -> Bool {
        guard limit > 0 else { return false }
        guard times.count >= limit, let last = times.last, now >= last else { return true }
        return now - times[times.count - limit] >= Self.window
    }

    func earliest(now: UInt64, limit: Int) -> UInt64 {
        guard limit > 0 else { return .max }
        if allows(now: now, limit: limit) { return now }
        return times[times.count - limit] &+ Self.window
    }

    mutating func record(_ now: UInt64, limit: Int) {
        // A clock that went backwards starts a fresh window rather than blocking until it catches up.
        if let last = times.last, now < last { times.removeAll() }
        times.append(now)
        if times.count > limit { times.removeFirst(times.count - limit) }
    }
}

/// The honest sender's update counter: strictly increasing, and above every counter an earlier run
/// of the same replica used, without storing anything.
///
/// The next counter is `max(previous + 1, now × 1024)`: as long as the replica sends fewer than 1,024
/// updates per millisecond on average and its clock does not go backwards across a restart, a fresh
/// process starts above everything it sent before, so receivers do not refuse its updates as stale.
public struct EphemeralCounter: Sendable, Hashable {
    /// The last counter handed out; nil before the first.
    public private(set) var last: UInt64?

    /// Creates a counter that has handed out nothing.
    public init() {}

    /// The counter for an update sent at `now`.
    /// - Complexity: O(1).
    public mutating func next(now: UInt64) -> UInt64 {
        let (scaled, overflow) = now.multipliedReportingOverflow(by: 1_024)
        let floor = overflow ? UInt64.max : scaled
        let value = last.map { max($0 == .max ? .max : $0 + 1, floor) } ?? floor
        last = value
        return value
    }
}

/// The receiver's flood guard: a token bucket per origin and per class of update, refilled at the
/// rate an honest sender keeps to and holding ``EphemeralPolicy/receiveBurstSeconds`` seconds of it
/// (updates bunch up in the network).
///
/// Classes and rates: typing at 2 × ``EphemeralPolicy/typingMaxPerSecond`` (a start and a stop),
/// cursor at ``EphemeralPolicy/cursorMaxPerSecond``, presence, heartbeat and goodbye together at
/// ``EphemeralPolicy/controlMaxPerSecond``. Call ``admit(_:now:)`` only for updates that
/// ``EphemeralRegisters/check(_:now:)`` accepts, so duplicates relayed by several peers do not use
/// up an honest origin's budget. Every refusal is counted.
public struct EphemeralRateLimiter: Sendable, Hashable {
    /// Rates and burst.
    public var policy: EphemeralPolicy
    /// Per origin: the typing, cursor and control buckets, each full when first used.
    private var buckets: [ReplicaID: [TokenBucket?]] = [:]
    private var droppedByOrigin: [ReplicaID: UInt64] = [:]
    /// How many updates were refused, from all origins.
    public private(set) var droppedCount: UInt64 = 0

    /// Creates a limiter that has seen nothing.
    public init(policy: EphemeralPolicy = .default) { self.policy = policy }

    /// Whether to let `update` through at `now`; a refusal is counted against its origin.
    /// - Complexity: O(1) expected.
    public mutating func admit(_ update: EphemeralUpdate, now: UInt64) -> Bool {
        let (slot, perSecond): (Int, UInt64) = switch update.payload.kind {
        case .typing: (0, 2 * UInt64(policy.typingMaxPerSecond))
        case .cursor: (1, UInt64(policy.cursorMaxPerSecond))
        case .presence, .heartbeat, .goodbye: (2, UInt64(policy.controlMaxPerSecond))
        }
        let capacity = max(1, perSecond * UInt64(policy.receiveBurstSeconds)) * TokenBucket.unit
        var bucket = buckets[update.origin]?[slot] ?? TokenBucket(milliTokens: capacity, refilledAt: now)
        let admitted = bucket.take(now: now, perSecond: perSecond, capacity: capacity)
        buckets[update.origin, default: [nil, nil, nil]][slot] = bucket
        if !admitted {
            droppedCount += 1
            droppedByOrigin[update.origin, default: 0] += 1
        }
        return admitted
    }

    /// How many updates from `origin` were refused.
    /// - Complexity: O(1) expected.
    public func dropped(from origin: ReplicaID) -> UInt64 { droppedByOrigin[origin] ?? 0 }

    /// Forgets `origin`'s budget (its drop count stays).
    /// - Complexity: O(1) expected.
    public mutating func remove(origin: ReplicaID) { buckets[origin] = nil }
}

/// The honest sender's side of ``EphemeralRateLimiter``'s control class: presence and heartbeat
/// updates of one conversation go out at most at ``EphemeralPolicy/controlMaxPerSecond`` on
/// average, with a burst one second's worth smaller than the receivers' (so a second of network
/// bunching still fits their bucket). An update over the budget must be delayed to
/// ``earliestSend(now:)``, never dropped: receivers would refuse it as `rateLimited`, and a
/// presence is a final state (the last one would be lost until the next announce). The pacer
/// holds that update (``offer(_:now:)``) until ``releaseHeld(now:)`` lets it out.
/// Pure: `now` is passed in.
public struct EphemeralControlPacer: Sendable, Hashable {
    /// Rates and burst.
    public var policy: EphemeralPolicy
    private var bucket: TokenBucket?
    /// The newest presence (or a heartbeat, when no presence waits) over the budget.
    public private(set) var held: EphemeralPayload?

    /// Creates a pacer with its whole burst available.
    public init(policy: EphemeralPolicy = .default) { self.policy = policy }

    private var perSecond: UInt64 { UInt64(policy.controlMaxPerSecond) }
    private var capacity: UInt64 {
        let receivers = perSecond * UInt64(policy.receiveBurstSeconds)
        return max(1, receivers > perSecond ? receivers - perSecond : receivers) * TokenBucket.unit
    }

    /// Whether a control update may go out at `now`; when true, it is counted.
    /// - Complexity: O(1).
    public mutating func shouldSend(now: UInt64) -> Bool {
        guard perSecond > 0 else { return true }
        var bucket = self.bucket ?? TokenBucket(milliTokens: capacity, refilledAt: now)
        let sent = bucket.take(now: now, perSecond: perSecond, capacity: capacity)
        self.bucket = bucket
        return sent
    }

    /// A presence or heartbeat to send at `now`: returned when it may go out now. Otherwise it is
    /// held (behind an update already held too, so the order stays), a presence replacing
    /// whatever is held and a heartbeat only an empty place, and nil is returned: send what
    /// ``releaseHeld(now:)`` gives at ``earliestSend(now:)``.
    /// - Complexity: O(1).
    public mutating func offer(_ payload: EphemeralPayload, now: UInt64) -> EphemeralPayload? {
        if held == nil, shouldSend(now: now) { return payload }
        if payload.kind == .presence || held == nil { held = payload }
        return nil
    }

    /// The held update, when the budget lets it out at `now` (it is then no longer held).
    /// - Complexity: O(1).
    public mutating func releaseHeld(now: UInt64) -> EphemeralPayload? {
        guard let payload = held, shouldSend(now: now) else { return nil }
        held = nil
        return payload
    }

    /// Forgets the held update (after a goodbye, which must stay the last word).
    public mutating func dropHeld() { held = nil }

    /// The earliest time at or after `now` when ``shouldSend(now:)`` will answer true.
    /// - Complexity: O(1).
    public func earliestSend(now: UInt64) -> UInt64 {
        guard perSecond > 0, let bucket else { return now }
        let tokens = bucket.milliTokens(at: now, perSecond: perSecond, capacity: capacity)
        guard tokens < TokenBucket.unit else { return now }
        return now + (TokenBucket.unit - tokens + perSecond - 1) / perSecond
    }
}

/// Tokens in thousandths, refilled continuously at `perSecond` tokens a second (= thousandths a ms).
struct TokenBucket: Sendable, Hashable {
    static let unit: UInt64 = 1_000
    var milliTokens: UInt64
    var refilledAt: UInt64

    /// The thousandths held at `now`, refill included.
    func milliTokens(at now: UInt64, perSecond: UInt64, capacity: UInt64) -> UInt64 {
        guard now > refilledAt else { return milliTokens }
        let (refill, overflow) = (now - refilledAt).multipliedReportingOverflow(by: perSecond)
        return overflow ? capacity : min(capacity, milliTokens + min(refill, capacity))
    }

    mutating func take(now: UInt64, perSecond: UInt64, capacity: UInt64) -> Bool {
        milliTokens = milliTokens(at: now, perSecond: perSecond, capacity: capacity)
        refilledAt = max(refilledAt, now)
        guard milliTokens >= Self.unit else { return false }
        milliTokens -= Self.unit
        return true
    }
}
