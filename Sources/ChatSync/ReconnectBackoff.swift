import ChatCore

/// When to dial a peer again after a connection failed or dropped: exponential back-off with
/// full jitter, reset by a session that lasted. Pure; time and randomness come in.
///
/// The n-th consecutive failure waits a uniform delay in `[initial × 2ⁿ⁻¹ / 2, initial × 2ⁿ⁻¹]`,
/// capped at `maximum`, so a crowd of nodes that lost the same peer does not redial in lockstep.
public struct ReconnectBackoff: Sendable {
    /// The delay after the first failure (before jitter).
    public var initial: Duration
    /// The longest delay.
    public var maximum: Duration
    /// A session that lasted this long resets the back-off.
    public var stableAfter: Duration
    /// Failures since the last stable session.
    public private(set) var failures = 0
    private var random: SeededGenerator

    /// Defaults: 100 ms doubling to 30 s; a session of 10 s or more counts as stable.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30),
                stableAfter: Duration = .seconds(10), seed: UInt64) {
        self.initial = max(.milliseconds(1), initial)
        self.maximum = max(self.initial, maximum)
        self.stableAfter = stableAfter
        self.random = SeededGenerator(seed: seed)
    }

    /// A dial failed or a session ended after `sessionLength` (nil: never established). Returns
    /// how long to wait before dialing again.
    /// - Complexity: O(1).
    public mutating func failed(sessionLength: Duration? = nil) -> Duration {
        if let sessionLength, sessionLength >= stableAfter { failures = 0 }
        failures += 1
        var ceiling = initial
        for _ in 1 ..< min(failures, 40) where ceiling < maximum { ceiling = ceiling * 2 }
        ceiling = min(ceiling, maximum)
        let fraction = 0.5 + 0.5 * Double(random.next() >> 11) / Double(1 << 53)
        return ceiling * fraction
    }

    /// A session was established and then lasted: start over.
    public mutating func reset() { failures = 0 }
}
