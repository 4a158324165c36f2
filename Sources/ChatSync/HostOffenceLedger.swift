/// Which network hosts a node refuses for a while, and why: a host is refused only after
/// several offences (garbage, floods) within a window, never for a first one, because many
/// honest nodes can share one address (NAT, or loopback). Pure: time is passed in.
public struct HostOffenceLedger: Sendable {
    /// Offences within ``window`` that make a host refused.
    public let threshold: Int
    public let window: Duration
    /// The most hosts remembered; the oldest entries go first.
    public let capacity: Int
    private var offences: [String: [Duration]] = [:]
    private var banned: [String: Duration] = [:]

    public init(threshold: Int = 3, window: Duration = .seconds(60), capacity: Int = 4096) {
        self.threshold = max(1, threshold)
        self.window = window
        self.capacity = max(1, capacity)
    }

    /// Records an offence by `host` at `now`; when it makes `threshold` within the window the
    /// host is refused until `now + stayAway`, which is returned.
    /// - Complexity: O(threshold), plus O(capacity) when the ledger is full.
    public mutating func noteOffence(by host: String, at now: Duration, stayAway: Duration) -> Duration? {
        if offences[host] == nil, offences.count >= capacity { evict(now: now) }
        if let until = banned[host], until <= now { banned[host] = nil }
        var recent = (offences[host] ?? []).filter { now - $0 < window }
        recent.append(now)
        offences[host] = Array(recent.suffix(threshold))
        guard recent.count >= threshold else { return nil }
        if banned[host] == nil, banned.count >= capacity { evict(now: now) }
        let until = now + stayAway
        banned[host] = until
        return until
    }

    /// True when `host` is refused at `now`.
    /// - Complexity: O(1).
    public func isRefused(_ host: String, at now: Duration) -> Bool {
        banned[host].map { $0 > now } ?? false
    }

    /// Drops expired entries, then the oldest ones, until there is room.
    private mutating func evict(now: Duration) {
        banned = banned.filter { $0.value > now }
        offences = offences.filter { $0.value.last.map { now - $0 < window } ?? false }
        while offences.count >= capacity, let oldest = offences.min(by: { ($0.value.last ?? .zero) < ($1.value.last ?? .zero) })?.key {
            offences[oldest] = nil
        }
        while banned.count >= capacity, let soonest = banned.min(by: { $0.value < $1.value })?.key {
            banned[soonest] = nil
        }
    }
}
