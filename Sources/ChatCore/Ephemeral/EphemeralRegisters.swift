/// What ``EphemeralRegisters`` did with an update.
public enum EphemeralReceipt: Sendable, Hashable, CustomStringConvertible {
    /// Applied: it is the newest of its kind from its origin.
    case accepted
    /// Its counter is not above the last one its register accepted from that origin: a replay, a
    /// duplicate from another peer, or an update overtaken by a newer one. Nothing changed.
    case stale
    /// Sent more than ``EphemeralPolicy/maxAge`` before `now`. Nothing changed.
    case tooOld
    /// Sent more than ``EphemeralPolicy/maxFutureSkew`` after `now`. Nothing changed.
    case fromTheFuture
    /// About another conversation. Nothing changed.
    case otherConversation

    /// A stable, machine-readable reason code (for counters and logs).
    public var code: String {
        switch self {
        case .accepted: "accepted"
        case .stale: "stale"
        case .tooOld: "too_old"
        case .fromTheFuture: "from_the_future"
        case .otherConversation: "other_conversation"
        }
    }

    public var description: String { code }
}

/// A replica's presence as this node sees it at a given time.
public struct EffectivePresence: Sendable, Hashable {
    /// The replica.
    public var origin: ReplicaID
    /// The status to show: the announced one, unless time or a goodbye says otherwise.
    public var status: PresenceStatus
    /// The status the origin last announced; nil if it announced none (only heartbeats, typing…).
    public var announced: PresenceStatus?
    /// The origin's custom status message, if any.
    public var customStatus: String?
    /// The origin's status emoji, if any.
    public var statusEmoji: String?
    /// When this node last accepted an update from the origin (its clock, ms since the Unix epoch).
    public var lastSeen: UInt64

    /// Creates a presence view.
    public init(origin: ReplicaID, status: PresenceStatus, announced: PresenceStatus?, customStatus: String?,
                statusEmoji: String?, lastSeen: UInt64) {
        self.origin = origin
        self.status = status
        self.announced = announced
        self.customStatus = customStatus
        self.statusEmoji = statusEmoji
        self.lastSeen = lastSeen
    }
}

/// Another replica's visible cursor.
public struct RemoteCursor: Sendable, Hashable {
    /// The replica.
    public var origin: ReplicaID
    /// Its last announced viewport and focus.
    public var cursor: Cursor
    /// When this node accepted that update (its clock, ms since the Unix epoch).
    public var updatedAt: UInt64

    /// Creates a cursor view.
    public init(origin: ReplicaID, cursor: Cursor, updatedAt: UInt64) {
        self.origin = origin
        self.cursor = cursor
        self.updatedAt = updatedAt
    }
}

/// The ephemeral state of one conversation: presence, typing and cursor of every other replica,
/// kept in memory only and expiring by time.
///
/// Each origin has one last-writer-wins register per kind — presence, typing, cursor, and a
/// liveness register for heartbeat and goodbye — ordered by the origin's update counter. A
/// register takes an update only if its counter is above the one the register holds, so for a
/// fixed `now` receiving is commutative (any delivery order gives the same registers: the
/// highest-counter update of each kind), associative and idempotent (a replay is `stale`).
/// Ordering per register rather than per origin means an old typing update overtaken by a newer
/// cursor update still counts, so the result never depends on the order.
///
/// Expiry is measured on this node's clock from when an update was accepted (`now` at
/// ``receive(_:now:)``), so a sender's clock skew does not shorten or stretch a 3-second typing
/// indicator; the sender's `sentAt` only bounds which updates are accepted at all (replay window)
/// and measures, together with `lastActiveAt`, how long the user had been idle when it was sent.
///
/// The caller verifies the signature, checks the origin is a member, and filters out its own
/// replica before calling ``receive(_:now:)``. Pure: nothing reads a clock; `now` is milliseconds
/// since the Unix epoch.
public struct EphemeralRegisters: Sendable, Hashable {
    /// The conversation whose updates this accepts.
    public let conversation: ConversationID
    /// Time limits.
    public var policy: EphemeralPolicy
    private var origins: [ReplicaID: OriginRegisters] = [:]

    /// Creates empty registers for `conversation`.
    public init(conversation: ConversationID, policy: EphemeralPolicy = .default) {
        self.conversation = conversation
        self.policy = policy
    }

    /// What ``receive(_:now:)`` would answer, without changing anything (to rate-limit only updates
    /// that would be applied, so duplicates from several peers do not use up an origin's budget).
    /// - Complexity: O(1) expected.
    public func check(_ update: EphemeralUpdate, now: UInt64) -> EphemeralReceipt {
        guard update.conversation == conversation else { return .otherConversation }
        if update.sentAt > now, update.sentAt - now > policy.maxFutureSkew { return .fromTheFuture }
        if now > update.sentAt, now - update.sentAt > policy.maxAge { return .tooOld }
        if let held = origins[update.origin]?.counter(of: update.payload.kind), update.counter <= held { return .stale }
        return .accepted
    }

    /// Applies `update` if it is the newest of its kind from its origin and was sent within the
    /// accepted window around `now`.
    /// - Complexity: O(1) expected.
    @discardableResult
    public mutating func receive(_ update: EphemeralUpdate, now: UInt64) -> EphemeralReceipt {
        let receipt = check(update, now: now)
        guard receipt == .accepted else { return receipt }
        origins[update.origin, default: OriginRegisters(lastHeard: now)].apply(update, receivedAt: now)
        #if CHAT_INTERNAL_CHECKS
        _checkInvariants()
        #endif
        return .accepted
    }

    /// Forgets everything about `origin` (for a member who was removed).
    /// - Complexity: O(1) expected.
    public mutating func remove(origin: ReplicaID) {
        origins[origin] = nil
    }

    /// Every replica this node has accepted an update from, sorted.
    /// - Complexity: O(n log n) in the number of origins.
    public var knownOrigins: [ReplicaID] { origins.keys.sorted() }

    /// When this node last accepted any update from `origin` (heartbeats included); nil if never.
    /// - Complexity: O(1) expected.
    public func lastSeen(of origin: ReplicaID) -> UInt64? { origins[origin]?.lastHeard }

    // MARK: Typing

    /// The replicas typing at `now`, sorted: their last typing update said `isTyping`, arrived
    /// less than ``EphemeralPolicy/typingTTL`` ago, and they have not said goodbye since.
    /// - Complexity: O(n log n) in the number of origins.
    public func typingOrigins(now: UInt64) -> [ReplicaID] {
        origins.compactMap { origin, registers in visibleTyping(registers, now: now) == nil ? nil : origin }.sorted()
    }

    /// What `origin` is typing into at `now`; nil when it is not typing.
    /// - Complexity: O(1) expected.
    public func typing(of origin: ReplicaID, now: UInt64) -> Typing? {
        origins[origin].flatMap { visibleTyping($0, now: now) }
    }

    private func visibleTyping(_ registers: OriginRegisters, now: UInt64) -> Typing? {
        guard !registers.hasLeft, let typing = registers.typing, typing.value.isTyping,
              age(of: typing.receivedAt, now: now) < policy.typingTTL else { return nil }
        return typing.value
    }

    // MARK: Cursors

    /// The cursors visible at `now`, sorted by origin: updated less than ``EphemeralPolicy/cursorIdle``
    /// ago by a replica that has not said goodbye since.
    /// - Complexity: O(n log n) in the number of origins.
    public func cursors(now: UInt64) -> [RemoteCursor] {
        origins.compactMap { origin, registers in visibleCursor(origin, registers, now: now) }
            .sorted { $0.origin < $1.origin }
    }

    /// `origin`'s cursor if it is visible at `now`.
    /// - Complexity: O(1) expected.
    public func cursor(of origin: ReplicaID, now: UInt64) -> RemoteCursor? {
        origins[origin].flatMap { visibleCursor(origin, $0, now: now) }
    }

    private func visibleCursor(_ origin: ReplicaID, _ registers: OriginRegisters, now: UInt64) -> RemoteCursor? {
        guard !registers.hasLeft, let cursor = registers.cursor,
              age(of: cursor.receivedAt, now: now) < policy.cursorIdle else { return nil }
        return RemoteCursor(origin: origin, cursor: cursor.value, updatedAt: cursor.receivedAt)
    }

    // MARK: Presence

    /// `origin`'s effective presence at `now`; nil if this node never accepted an update from it.
    ///
    /// - offline at once after a goodbye (until a newer update), or after
    ///   ``EphemeralPolicy/offlineAfter`` without any accepted update (heartbeats count);
    /// - otherwise the announced status (online if it announced none), except that `online` becomes
    ///   `away` once the user has been idle for ``EphemeralPolicy/awayAfter``: the idle time when the
    ///   presence was sent (`sentAt − lastActiveAt`, both on the origin's clock, so skew cancels) plus
    ///   the time since it arrived. `doNotDisturb` and an announced `offline` stay as they are.
    /// - Complexity: O(1) expected.
    public func presence(of origin: ReplicaID, now: UInt64) -> EffectivePresence? {
        origins[origin].map { effectivePresence(origin, $0, now: now) }
    }

    /// The effective presence of every known replica at `now`, sorted by origin.
    /// - Complexity: O(n log n) in the number of origins.
    public func presences(now: UInt64) -> [EffectivePresence] {
        origins.map { effectivePresence($0.key, $0.value, now: now) }.sorted { $0.origin < $1.origin }
    }

    private func effectivePresence(_ origin: ReplicaID, _ registers: OriginRegisters, now: UInt64) -> EffectivePresence {
        let announced = registers.presence?.value
        var status = announced?.status ?? .online
        if registers.hasLeft || age(of: registers.lastHeard, now: now) >= policy.offlineAfter {
            status = .offline
        } else if status == .online, let presence = registers.presence {
            let idleWhenSent = presence.sentAt > presence.value.lastActiveAt ? presence.sentAt - presence.value.lastActiveAt : 0
            let (idle, overflow) = idleWhenSent.addingReportingOverflow(age(of: presence.receivedAt, now: now))
            if overflow || idle >= policy.awayAfter { status = .away }
        }
        return EffectivePresence(
            origin: origin, status: status, announced: announced?.status, customStatus: announced?.customStatus,
            statusEmoji: announced?.statusEmoji, lastSeen: registers.lastHeard)
    }

    /// Milliseconds from `time` to `now`; 0 if the clock went backwards.
    private func age(of time: UInt64, now: UInt64) -> UInt64 { now > time ? now - time : 0 }
}

/// A value with the counter and times of the update that set it.
struct Stamped<Value: Sendable & Hashable>: Sendable, Hashable {
    var counter: UInt64
    var sentAt: UInt64
    var receivedAt: UInt64
    var value: Value
}

/// The registers of one origin.
struct OriginRegisters: Sendable, Hashable {
    var presence: Stamped<Presence>?
    var typing: Stamped<Typing>?
    var cursor: Stamped<Cursor>?
    /// Heartbeat (false) or goodbye (true), whichever is newer.
    var liveness: Stamped<Bool>?
    /// This node's clock when it last accepted an update from the origin (the latest receive time).
    var lastHeard: UInt64

    init(lastHeard: UInt64) { self.lastHeard = lastHeard }

    /// The counter the register for `kind` holds.
    func counter(of kind: EphemeralKind) -> UInt64? {
        switch kind {
        case .presence: presence?.counter
        case .typing: typing?.counter
        case .cursor: cursor?.counter
        case .heartbeat, .goodbye: liveness?.counter
        }
    }

    /// True when the origin's newest update is a goodbye.
    var hasLeft: Bool {
        guard let liveness, liveness.value else { return false }
        return [presence?.counter, typing?.counter, cursor?.counter].allSatisfy { ($0 ?? 0) < liveness.counter }
    }

    /// Puts `update` in its register (the caller checked it is newer).
    mutating func apply(_ update: EphemeralUpdate, receivedAt: UInt64) {
        lastHeard = max(lastHeard, receivedAt)
        switch update.payload {
        case .presence(let value): presence = Stamped(counter: update.counter, sentAt: update.sentAt, receivedAt: receivedAt, value: value)
        case .typing(let value): typing = Stamped(counter: update.counter, sentAt: update.sentAt, receivedAt: receivedAt, value: value)
        case .cursor(let value): cursor = Stamped(counter: update.counter, sentAt: update.sentAt, receivedAt: receivedAt, value: value)
        case .heartbeat: liveness = Stamped(counter: update.counter, sentAt: update.sentAt, receivedAt: receivedAt, value: false)
        case .goodbye: liveness = Stamped(counter: update.counter, sentAt: update.sentAt, receivedAt: receivedAt, value: true)
        }
    }
}

#if CHAT_INTERNAL_CHECKS
extension EphemeralRegisters {
    /// Every origin has a register, and none was set after `lastHeard`.
    func _checkInvariants() {
        for registers in origins.values {
            let times = [registers.presence?.receivedAt, registers.typing?.receivedAt, registers.cursor?.receivedAt,
                         registers.liveness?.receivedAt].compactMap { $0 }
            precondition(!times.isEmpty, "an origin without any register")
            precondition(times.allSatisfy { $0 <= registers.lastHeard }, "a register set after lastHeard")
        }
    }
}
#endif
