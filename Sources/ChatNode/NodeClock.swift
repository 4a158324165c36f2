/// The node's monotonic time: any `Clock` measured from when the node started, so tests can
/// inject a test clock and production uses `ContinuousClock`.
public struct NodeClock: Clock {
    /// An instant: the time since the node's clock started.
    public struct Instant: InstantProtocol {
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let elapsed: @Sendable () -> Duration
    private let wait: @Sendable (Duration) async throws -> Void

    /// Wraps `clock`, starting now.
    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let start = clock.now
        elapsed = { start.duration(to: clock.now) }
        wait = { try await clock.sleep(for: $0) }
    }

    /// The system's monotonic clock.
    public static var continuous: NodeClock { NodeClock(ContinuousClock()) }

    public var now: Instant { Instant(offset: elapsed()) }
    public var minimumResolution: Duration { .nanoseconds(1) }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let delay = now.duration(to: deadline)
        if delay > .zero { try await wait(delay) } else { try Task.checkCancellation() }
    }

    /// Time since the clock started.
    public var elapsedTime: Duration { elapsed() }
}
