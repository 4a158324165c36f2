import ChatCore
import ChatWire

/// A node found on the LAN that holds conversations this node also holds.
public struct Discovery: Sendable, Hashable, CustomStringConvertible {
    /// The sender's address, as the datagram's source reported it.
    public var host: String
    /// The TCP port the sender accepts sessions on.
    public var port: Int
    /// The shared conversations the beacon announced, sorted.
    public var conversations: [ConversationID]

    /// A discovery of `conversations` at `host:port`.
    public init(host: String, port: Int, conversations: [ConversationID]) {
        self.host = host
        self.port = port
        self.conversations = conversations
    }

    public var description: String { "\(host):\(port) (\(conversations.count) shared)" }
}

/// What ``DiscoveryStateMachine`` asks its shell to do.
public enum DiscoveryAction: Sendable, Hashable {
    /// Send these beacon bytes to the discovery target (broadcast address or configured peer).
    case sendBeacon([UInt8])
    /// Call ``DiscoveryStateMachine/beaconDue(nonce:now:)`` after this delay.
    case scheduleBeacon(after: Duration)
    /// Report a node that shares conversations with this one.
    case discovered(Discovery)
}

/// How often to beacon, and how much to accept from others.
public struct DiscoveryConfiguration: Sendable, Hashable {
    /// The TCP port this node's sessions listen on (announced in every beacon; not 0).
    public var tcpPort: UInt16
    /// The mean time between beacons.
    public var interval: Duration
    /// Each delay is uniform in `interval × [1 − jitter, 1 + jitter]`; clamped into `0 ... 1`.
    public var jitter: Double
    /// The first beacon goes out after a uniform delay in `[0, initialDelay]`, so nodes started
    /// together do not beacon in lockstep.
    public var initialDelay: Duration
    /// The most beacons handled per source address in one ``sourceWindow``; more are dropped and counted.
    public var beaconsPerSource: Int
    /// The rate-limit window per source address.
    public var sourceWindow: Duration
    /// A node already reported with the same conversations is not reported again within this window.
    public var rediscoveryWindow: Duration
    /// The most source addresses tracked for rate limiting; a new source beyond that is dropped.
    public var maximumSources: Int
    /// The most discovered nodes remembered for de-duplication (the oldest is forgotten first).
    public var maximumDiscoveries: Int
    /// How many of this node's own recent nonces are remembered, to ignore its own beacons.
    public var rememberedNonces: Int

    /// Defaults: a beacon every 5 s ± 20 %, first within 250 ms; 4 beacons per source per second;
    /// the same node and conversations reported at most every 30 s.
    public init(tcpPort: UInt16, interval: Duration = .seconds(5), jitter: Double = 0.2,
                initialDelay: Duration = .milliseconds(250), beaconsPerSource: Int = 4,
                sourceWindow: Duration = .seconds(1), rediscoveryWindow: Duration = .seconds(30),
                maximumSources: Int = 256, maximumDiscoveries: Int = 256, rememberedNonces: Int = 8) {
        self.tcpPort = tcpPort
        self.interval = max(.milliseconds(1), interval)
        self.jitter = jitter.isFinite ? min(max(jitter, 0), 1) : 0
        self.initialDelay = max(.zero, initialDelay)
        self.beaconsPerSource = max(1, beaconsPerSource)
        self.sourceWindow = max(.milliseconds(1), sourceWindow)
        self.rediscoveryWindow = max(.zero, rediscoveryWindow)
        self.maximumSources = max(1, maximumSources)
        self.maximumDiscoveries = max(1, maximumDiscoveries)
        self.rememberedNonces = max(1, rememberedNonces)
    }
}

/// What happened to beacons, for logs and tests.
public struct DiscoveryCounters: Sendable, Hashable {
    /// Beacons this node sent.
    public var beaconsSent = 0
    /// Datagrams received (before any filtering).
    public var datagramsReceived = 0
    /// Dropped by the per-source rate limit (or because the source table was full).
    public var rateLimited = 0
    /// Not a valid beacon.
    public var malformed = 0
    /// This node's own beacons, looped back.
    public var ownBeacons = 0
    /// Valid beacons sharing no conversation with this node.
    public var unmatched = 0
    /// Matching beacons from a node already reported within the rediscovery window.
    public var duplicates = 0
    /// Discoveries reported.
    public var discovered = 0

    /// All zero.
    public init() {}
}

/// The sans-I/O core of LAN discovery: when to send the next beacon (seeded jitter), what to put in
/// it, and what to make of a received datagram (rate limit per source, decode, ignore own beacons,
/// match against this node's conversations, de-duplicate reports). Time comes in as `now`
/// (a `Duration` since the shell started); nonces come from the shell's secure random source.
///
/// With more than ``DiscoveryBeacon/maximumTags`` conversations, successive beacons rotate through
/// them in windows of 64, so each is announced every ⌈n / 64⌉ beacons.
///
/// Memory is bounded: ``DiscoveryConfiguration/maximumSources`` rate-limit entries,
/// ``DiscoveryConfiguration/maximumDiscoveries`` reported nodes, ``DiscoveryConfiguration/rememberedNonces``
/// own nonces.
public struct DiscoveryStateMachine: Sendable {
    /// The configuration.
    public let configuration: DiscoveryConfiguration
    /// This node's conversations, sorted, without repeats.
    public private(set) var conversations: [ConversationID]
    /// What happened so far.
    public private(set) var counters = DiscoveryCounters()

    private struct SourceWindow: Sendable {
        var start: Duration
        var count: Int
    }

    private struct Endpoint: Sendable, Hashable {
        var host: String
        var port: Int
    }

    private struct Reported: Sendable {
        var at: Duration
        var conversations: [ConversationID]
    }

    private var random: SeededGenerator
    private var rotation = 0
    private var recentNonces: [[UInt8]] = []
    private var sources: [String: SourceWindow] = [:]
    private var reported: [Endpoint: Reported] = [:]

    /// A machine announcing `conversations`; `seed` drives the jitter only (nonces come from the shell).
    public init(configuration: DiscoveryConfiguration, conversations: some Sequence<ConversationID>, seed: UInt64) {
        self.configuration = configuration
        self.conversations = Array(Set(conversations)).sorted()
        self.random = SeededGenerator(seed: seed)
    }

    /// Starts beaconing: schedules the first beacon after a jittered initial delay.
    ///
    /// - Complexity: O(1).
    public mutating func start(now: Duration) -> [DiscoveryAction] {
        [.scheduleBeacon(after: configuration.initialDelay * unitRandom())]
    }

    /// Replaces this node's conversation set (takes effect from the next beacon and the next match).
    ///
    /// - Complexity: O(n log n) for n conversations.
    public mutating func setConversations(_ newConversations: some Sequence<ConversationID>) {
        conversations = Array(Set(newConversations)).sorted()
        rotation = 0
    }

    /// The scheduled beacon time came: returns the beacon to send under `nonce` (16 fresh random bytes;
    /// nothing is sent with another length or with no conversations) and the next schedule.
    ///
    /// - Complexity: O(min(n, 64) · h) for n conversations, h one BLAKE2b.
    public mutating func beaconDue(nonce: [UInt8], now: Duration) -> [DiscoveryAction] {
        var actions: [DiscoveryAction] = []
        let batch = nextBatch()
        if !batch.isEmpty, nonce.count == DiscoveryBeacon.nonceByteCount,
           let beacon = try? DiscoveryBeacon(port: configuration.tcpPort, nonce: nonce, conversations: batch)
        {
            remember(nonce: nonce)
            counters.beaconsSent += 1
            actions.append(.sendBeacon(beacon.encoded()))
        }
        actions.append(.scheduleBeacon(after: nextDelay()))
        _checkInvariants()
        return actions
    }

    /// A datagram arrived from `host`. Returns a ``DiscoveryAction/discovered(_:)`` when it is a
    /// beacon from another node sharing conversations with this one that was not reported recently;
    /// otherwise nothing, and the reason is counted in ``counters``.
    ///
    /// - Complexity: O(b + n · h) for a datagram of b bytes and n conversations (h one BLAKE2b);
    ///   O(s) more when the source table of s entries is full and is pruned.
    public mutating func received(_ bytes: [UInt8], from host: String, now: Duration) -> [DiscoveryAction] {
        counters.datagramsReceived += 1
        guard admit(source: host, now: now) else {
            counters.rateLimited += 1
            return []
        }
        let beacon: DiscoveryBeacon
        do {
            beacon = try DiscoveryBeacon(decoding: bytes)
        } catch {
            counters.malformed += 1
            return []
        }
        if recentNonces.contains(beacon.nonce) {
            counters.ownBeacons += 1
            return []
        }
        let shared = beacon.matching(conversations)
        guard !shared.isEmpty else {
            counters.unmatched += 1
            return []
        }
        let endpoint = Endpoint(host: host, port: Int(beacon.port))
        if let previous = reported[endpoint], now - previous.at < configuration.rediscoveryWindow,
           previous.conversations == shared
        {
            counters.duplicates += 1
            return []
        }
        record(endpoint, Reported(at: now, conversations: shared), now: now)
        counters.discovered += 1
        _checkInvariants()
        return [.discovered(Discovery(host: host, port: endpoint.port, conversations: shared))]
    }

    // MARK: - Internals

    /// A uniform value in [0, 1) from the seeded generator.
    private mutating func unitRandom() -> Double {
        Double(random.next() >> 11) / Double(UInt64(1) << 53)
    }

    /// The jittered delay until the next beacon.
    private mutating func nextDelay() -> Duration {
        let factor = 1 - configuration.jitter + 2 * configuration.jitter * unitRandom()
        return configuration.interval * factor
    }

    /// The next window of at most 64 conversations, rotating through the sorted set.
    private mutating func nextBatch() -> [ConversationID] {
        let count = conversations.count
        guard count > DiscoveryBeacon.maximumTags else { return conversations }
        let start = rotation % count
        rotation = (start + DiscoveryBeacon.maximumTags) % count
        return (0 ..< DiscoveryBeacon.maximumTags).map { conversations[(start + $0) % count] }
    }

    private mutating func remember(nonce: [UInt8]) {
        recentNonces.append(nonce)
        if recentNonces.count > configuration.rememberedNonces {
            recentNonces.removeFirst(recentNonces.count - configuration.rememberedNonces)
        }
    }

    /// The per-source fixed-window rate limit; false means drop.
    private mutating func admit(source: String, now: Duration) -> Bool {
        if var window = sources[source] {
            if now - window.start >= configuration.sourceWindow || now < window.start {
                window = SourceWindow(start: now, count: 0)
            }
            guard window.count < configuration.beaconsPerSource else { return false }
            window.count += 1
            sources[source] = window
            return true
        }
        if sources.count >= configuration.maximumSources {
            let window = configuration.sourceWindow
            sources = sources.filter { now - $0.value.start < window && now >= $0.value.start }
            guard sources.count < configuration.maximumSources else { return false }
        }
        sources[source] = SourceWindow(start: now, count: 1)
        return true
    }

    /// Remembers a report, forgetting expired ones (then the oldest) when the table is full.
    private mutating func record(_ endpoint: Endpoint, _ report: Reported, now: Duration) {
        if reported[endpoint] == nil, reported.count >= configuration.maximumDiscoveries {
            let window = configuration.rediscoveryWindow
            reported = reported.filter { now - $0.value.at < window }
            if reported.count >= configuration.maximumDiscoveries,
               let oldest = reported.min(by: { $0.value.at < $1.value.at })?.key
            {
                reported[oldest] = nil
            }
        }
        reported[endpoint] = report
    }

    /// Checks the table bounds (debug builds only).
    func _checkInvariants() {
        assert(sources.count <= configuration.maximumSources, "source table over its bound")
        assert(reported.count <= configuration.maximumDiscoveries, "discovery table over its bound")
        assert(recentNonces.count <= configuration.rememberedNonces, "nonce memory over its bound")
    }
}
