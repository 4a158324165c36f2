import ChatCore
import ChatWire

/// Tunables of replication with one peer for one conversation.
public struct ReplicationConfiguration: Sendable, Hashable {
    /// Mean time between anti-entropy rounds (re-sending our clock).
    public var antiEntropyInterval: Duration
    /// Each round is delayed by a uniform extra in `0 ... antiEntropyInterval × jitterFraction`.
    public var jitterFraction: Double
    /// The most batches loaded from the store (and sent in one frame) per catch-up chunk.
    public var chunkBatches: Int
    /// The most batches accepted in one incoming `batches` frame; larger frames are refused.
    public var maxIncomingBatchesPerFrame: Int
    /// The most batches sent in one eager-push frame; the rest are left to a catch-up from the store.
    public var maxPushBatches: Int
    /// The shortest time between two clocks sent in reply to a peer's clock (not counting timers).
    public var minClockReplyInterval: Duration
    /// The most batch bytes in one `batches` frame: catch-up chunks and pushes are split by
    /// bytes as well as by count, so any valid history can be sent (a batch is at most
    /// ``ChatWire/WireLimits/maxBatchBytes``, a frame at most ``ChatWire/WireLimits/maxFrameBytes``).
    public var maxFrameBatchBytes: Int

    public init(antiEntropyInterval: Duration = .seconds(5), jitterFraction: Double = 0.2, chunkBatches: Int = 256,
                maxIncomingBatchesPerFrame: Int = 4096, maxPushBatches: Int = 256,
                minClockReplyInterval: Duration = .milliseconds(500),
                maxFrameBatchBytes: Int = WireLimits.default.maxFrameBytes / 2) {
        self.antiEntropyInterval = max(.milliseconds(1), antiEntropyInterval)
        self.jitterFraction = min(max(0, jitterFraction), 1)
        self.chunkBatches = max(1, chunkBatches)
        self.maxIncomingBatchesPerFrame = max(1, maxIncomingBatchesPerFrame)
        self.maxPushBatches = max(1, maxPushBatches)
        self.minClockReplyInterval = minClockReplyInterval
        // At least one batch of the largest size fits.
        self.maxFrameBatchBytes = max(WireLimits.default.maxBatchBytes + 1024, maxFrameBatchBytes)
    }
}

/// What the shell must do for a ``ReplicationStateMachine``.
public enum ReplicationAction: Sendable, Hashable {
    /// Send this frame to the peer (through the session: ``SessionStateMachine/send(_:)``).
    case send(DataFrame)
    /// Read from the store, in causal order, at most `limit` batches not covered by `above`, and
    /// hand them back through ``ReplicationStateMachine/storedBatchesLoaded(_:now:)`` (an empty
    /// array when there are none). The machine sends them and asks for the next chunk.
    case loadStoredBatches(above: VectorClock, limit: Int)
    /// Authenticate, verify, persist and apply these untrusted batches the peer sent, then report
    /// the authenticated ones with ``ReplicationStateMachine/peerHolds(_:)`` and the accepted ones
    /// to every machine of the conversation with ``ReplicationStateMachine/pushNew(batches:clockAfter:now:)``.
    case ingest([[UInt8]])
    /// Call ``ReplicationStateMachine/timerFired(now:)`` after this delay (replaces any earlier one).
    case scheduleTimer(after: Duration)
    /// The peer wants these batches by hash (another branch of an author who forked): load those
    /// the store holds (accepted or kept as evidence) and hand them to ``ReplicationStateMachine/wantedBatchesLoaded(_:)``.
    case sendWanted([BatchDependency])
}

/// Why the machine refused a frame or a call. The shell should close the session on a frame error.
public enum ReplicationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The frame names another conversation.
    case wrongConversation
    /// A `batches` frame with more batches than ``ReplicationConfiguration/maxIncomingBatchesPerFrame``.
    case tooManyBatches(count: Int, limit: Int)
    /// The machine was stopped.
    case stopped
    /// An `ephemeral` or `peers` frame: not replication's to handle (the node routes those to
    /// gossip and peer exchange).
    case notReplicationFrame

    /// A stable identifier for counters and logs.
    public var code: String {
        switch self {
        case .wrongConversation: "wrong_conversation"
        case .tooManyBatches: "too_many_batches"
        case .stopped: "stopped"
        case .notReplicationFrame: "not_replication_frame"
        }
    }

    public var description: String {
        switch self {
        case .wrongConversation: "the frame belongs to another conversation"
        case .tooManyBatches(let count, let limit): "a frame with \(count) batches (limit \(limit))"
        case .stopped: "replication with this peer was stopped"
        case .notReplicationFrame: "the frame is not a replication frame (ephemeral updates and peer exchange go elsewhere)"
        }
    }
}

/// What replication with one peer did, for `status` and tests.
public struct ReplicationCounters: Sendable, Hashable {
    /// Clock frames sent (start, anti-entropy rounds, replies).
    public var clocksSent = 0
    /// Clock frames received.
    public var clocksReceived = 0
    /// Batches asked for by hash, and asked of us.
    public var wantsSent = 0
    public var wantsReceived = 0
    /// Batches sent, by catch-up or eager push.
    public var batchesSent = 0
    /// Batches not sent because the peer was known to hold them.
    public var batchesDeduplicated = 0
    /// Batches handed to the shell for ingest.
    public var batchesReceived = 0
    /// New batches not pushed eagerly (peer's clock unknown, a gap, a missing dependency, or over
    /// the push limit): left to the next catch-up from the store.
    public var pushesDeferred = 0
    /// Frames refused, by ``ReplicationError/code``.
    public var refused: [String: Int] = [:]

    public init() {}
}

/// Replication of one conversation with one peer over an established session, sans-I/O.
///
/// On ``start(localClock:now:)`` it sends our vector clock and arms the anti-entropy timer. When
/// the peer's clock arrives it asks the shell for the stored batches the peer lacks, chunk by
/// chunk, and sends them. New local or relayed batches are pushed eagerly, never ones the peer is
/// known to hold; anything a push cannot carry (gaps, missing dependencies, an unknown peer clock)
/// is left to a catch-up from the store. Each anti-entropy round re-sends our clock, so the peer
/// repairs what a lost frame missed. Applying a batch twice has no effect, so delivery that
/// repeats is harmless; the machine only keeps repetition low.
///
/// What the peer is known to hold is its last reported clock merged with every batch it sent us
/// and every batch we sent it since; a reported clock replaces the part we inferred from sending,
/// so batches lost in transit are sent again.
public struct ReplicationStateMachine: Sendable {
    public let conversation: ConversationID
    public let configuration: ReplicationConfiguration
    /// What this node holds (as last told by the shell).
    public private(set) var localClock: VectorClock
    /// The peer's last reported clock, merged with the batches it sent us.
    public private(set) var peerReported: VectorClock?
    /// What the peer holds or will hold once our frames in flight arrive.
    public private(set) var peerKnown = VectorClock()
    public private(set) var counters = ReplicationCounters()

    private enum Phase: Sendable, Hashable { case idle, running, stopped }
    private var phase = Phase.idle
    /// A load request is outstanding.
    private var loading = false
    /// New batches were deferred while a load was outstanding, or a load was wanted: load again.
    private var loadAgain = false
    private var lastClockSentAt: Duration?
    /// The clock the outstanding (or last) load was asked above.
    private var requestedAbove = VectorClock()
    private var random: SeededGenerator

    /// - Parameters:
    ///   - seed: seeds the jitter of anti-entropy rounds (inject per peer for reproducibility).
    public init(conversation: ConversationID, configuration: ReplicationConfiguration = .init(), seed: UInt64) {
        self.conversation = conversation
        self.configuration = configuration
        self.localClock = VectorClock()
        self.random = SeededGenerator(seed: seed)
    }

    /// True between ``start(localClock:now:)`` and ``stop()``.
    public var isRunning: Bool { phase == .running }

    /// True while a catch-up load is outstanding.
    public var isLoading: Bool { loading }

    /// Starts replication once the session is established: sends our clock and arms the timer.
    public mutating func start(localClock: VectorClock, now: Duration) -> [ReplicationAction] {
        guard phase == .idle else { return [] }
        phase = .running
        self.localClock.merge(localClock)
        var actions = [sendClock(now: now), .scheduleTimer(after: nextRoundDelay())]
        if peerReported != nil, !self.localClock.isCovered(by: peerKnown) { actions += requestLoad() }
        return actions
    }

    /// Stops: later events produce no actions. (The session closed or the conversation was left.)
    public mutating func stop() {
        phase = .stopped
        loading = false
    }

    /// A frame of this conversation from the peer.
    /// - Complexity: O(clock entries) for a clock; O(batches) for a batches frame.
    public mutating func receive(_ frame: DataFrame, now: Duration) throws(ReplicationError) -> [ReplicationAction] {
        guard phase != .stopped else { throw .stopped }
        switch frame {
        case .clock(let conversation, let clock):
            guard conversation == self.conversation else { try refuse(.wrongConversation) }
            counters.clocksReceived += 1
            guard phase == .running else {
                // Before start: remember it; start() acts on it.
                peerReported = (peerReported ?? VectorClock()).merged(with: clock)
                peerKnown = peerKnown.merged(with: clock)
                return []
            }
            return receivedClock(clock, now: now)
        case .batches(let conversation, let batches):
            guard conversation == self.conversation else { try refuse(.wrongConversation) }
            guard batches.count <= configuration.maxIncomingBatchesPerFrame else {
                try refuse(.tooManyBatches(count: batches.count, limit: configuration.maxIncomingBatchesPerFrame))
            }
            guard !batches.isEmpty else { return [] }
            counters.batchesReceived += batches.count
            return [.ingest(batches)]
        case .want(let conversation, let dependencies):
            guard conversation == self.conversation else { try refuse(.wrongConversation) }
            guard phase == .running, !dependencies.isEmpty else { return [] }
            counters.wantsReceived += dependencies.count
            return [.sendWanted(dependencies)]
        case .ephemeral, .peers, .admission, .invitation, .admissionRefused:
            try refuse(.notReplicationFrame)
        }
    }

    private mutating func refuse(_ error: ReplicationError) throws(ReplicationError) -> Never {
        counters.refused[error.code, default: 0] += 1
        throw error
    }

    private mutating func receivedClock(_ clock: VectorClock, now: Duration) -> [ReplicationAction] {
        // The report is authoritative for what has arrived; what we sent and it does not show is
        // presumed lost (or in flight) and is sent again.
        let reported = (peerReported ?? VectorClock()).merged(with: clock)
        peerReported = reported
        peerKnown = reported
        var actions: [ReplicationAction] = []
        if !localClock.isCovered(by: peerKnown) { actions += requestLoad() }
        // The peer holds what we lack: tell it our clock so it sends (rate-limited).
        if !clock.isCovered(by: localClock), lastClockSentAt.map({ now - $0 >= configuration.minClockReplyInterval }) ?? true {
            actions.append(sendClock(now: now))
        }
        return actions
    }

    /// The shell's answer to ``ReplicationAction/loadStoredBatches(above:limit:)``: stored batches
    /// in causal order (empty when none). Sends those the peer lacks and asks for the next chunk.
    /// - Complexity: O(batches × clock entries of each).
    public mutating func storedBatchesLoaded(_ batches: [AuthenticatedBatch], now: Duration) -> [ReplicationAction] {
        guard phase == .running, loading else { return [] }
        loading = false
        var actions: [ReplicationAction] = []
        var frame: [[UInt8]] = []
        for batch in batches {
            localClock[batch.author] = max(localClock[batch.author], batch.endCounter)
            if batch.endCounter <= peerKnown[batch.author] {
                counters.batchesDeduplicated += 1
                continue
            }
            guard batch.firstCounter == peerKnown[batch.author] else {
                // A gap (the peer's report went back since the request): the next chunk fills it.
                continue
            }
            // Stored batches are dense per author and in causal order, so each one continues what
            // the peer holds plus what this chunk already carries.
            frame.append(batch.batch.bytes)
            peerKnown[batch.author] = batch.endCounter
        }
        actions += frames(of: frame)
        // Ask again while the peer still lacks something and this chunk moved us forward (so a
        // store that lacks what the clock claims cannot make us loop).
        let progressed = !frame.isEmpty || requestedAbove != peerKnown
        if progressed, !localClock.isCovered(by: peerKnown) {
            actions += requestLoad()
        } else {
            loadAgain = false
        }
        return actions
    }

    /// New batches this node stored (its own or relayed), in causal order, and its clock after
    /// them. Pushes what the peer lacks and can accept now; defers the rest to a catch-up.
    /// - Complexity: O(batches × clock entries of each).
    public mutating func pushNew(batches: [AuthenticatedBatch], clockAfter: VectorClock, now: Duration) -> [ReplicationAction] {
        localClock.merge(clockAfter)
        guard phase == .running else { return [] }
        guard peerReported != nil else {
            // We do not know what the peer holds yet; the delta sync after its clock covers these.
            counters.pushesDeferred += batches.count
            return []
        }
        var frame: [[UInt8]] = []
        var frameBytes = 0
        var deferred = false
        for batch in batches {
            if batch.endCounter <= peerKnown[batch.author] {
                counters.batchesDeduplicated += 1
                continue
            }
            let content = batch.batch.content
            let continues = batch.firstCounter == peerKnown[batch.author]
            let dependenciesHeld = content.dependencies.allSatisfy { peerKnown[$0.replica] >= $0.count }
            guard !loading, !deferred, continues, dependenciesHeld, frame.count < configuration.maxPushBatches,
                  frameBytes + batch.batch.bytes.count <= configuration.maxFrameBatchBytes else {
                counters.pushesDeferred += 1
                deferred = true
                continue
            }
            frame.append(batch.batch.bytes)
            frameBytes += batch.batch.bytes.count
            peerKnown[batch.author] = batch.endCounter
        }
        var actions = frames(of: frame)
        if deferred { actions += requestLoad() }
        return actions
    }

    /// Asks the peer for batches by hash: dependencies of batches we hold that name a branch
    /// our clock cannot ask for (an author forked), in frames of at most
    /// ``ChatWire/DataFrame/maxWantsPerFrame``.
    public mutating func want(_ dependencies: [BatchDependency]) -> [ReplicationAction] {
        guard phase == .running, !dependencies.isEmpty else { return [] }
        counters.wantsSent += dependencies.count
        return stride(from: 0, to: dependencies.count, by: DataFrame.maxWantsPerFrame).map { start in
            .send(.want(conversation: conversation,
                        dependencies: Array(dependencies[start ..< min(start + DataFrame.maxWantsPerFrame, dependencies.count)])))
        }
    }

    /// Sends batches that reveal a fork (validly signed, conflicting with their author's chain)
    /// whatever the peer's clock says: a clock cannot tell two branches of one author apart,
    /// so this is how every replica learns both.
    public mutating func pushEvidence(_ batches: [AuthenticatedBatch]) -> [ReplicationAction] {
        guard phase == .running else { return [] }
        return frames(of: batches.map(\.batch.bytes))
    }

    /// The batches a ``ReplicationAction/sendWanted(_:)`` asked for, as the store holds them: sent
    /// in `batches` frames.
    public mutating func wantedBatchesLoaded(_ batches: [[UInt8]]) -> [ReplicationAction] {
        guard phase == .running, !batches.isEmpty else { return [] }
        return frames(of: batches)
    }

    /// `batches`, in order, as `batches` frames of at most ``ReplicationConfiguration/maxPushBatches``
    /// batches and ``ReplicationConfiguration/maxFrameBatchBytes`` bytes each; counted as sent.
    /// - Complexity: O(batches).
    private mutating func frames(of batches: [[UInt8]]) -> [ReplicationAction] {
        var actions: [ReplicationAction] = []
        var frame: [[UInt8]] = []
        var bytes = 0
        for batch in batches {
            if !frame.isEmpty, frame.count >= configuration.maxPushBatches || bytes + batch.count > configuration.maxFrameBatchBytes {
                actions.append(.send(.batches(conversation: conversation, batches: frame)))
                frame = []
                bytes = 0
            }
            frame.append(batch)
            bytes += batch.count
        }
        if !frame.isEmpty { actions.append(.send(.batches(conversation: conversation, batches: frame))) }
        counters.batchesSent += batches.count
        return actions
    }

    /// Records that the peer holds these batches (it sent them to us), so they are never sent back.
    /// - Complexity: O(batches).
    public mutating func peerHolds(_ batches: [AuthenticatedBatch]) {
        for batch in batches where batch.endCounter > peerKnown[batch.author] {
            // Peers send from their stores, which hold each author's chain densely.
            peerKnown[batch.author] = batch.endCounter
            if var reported = peerReported {
                reported[batch.author] = max(reported[batch.author], batch.endCounter)
                peerReported = reported
            }
        }
    }

    /// The anti-entropy timer fired: re-send our clock and re-arm the timer.
    public mutating func timerFired(now: Duration) -> [ReplicationAction] {
        guard phase == .running else { return [] }
        return [sendClock(now: now), .scheduleTimer(after: nextRoundDelay())]
    }

    private mutating func requestLoad() -> [ReplicationAction] {
        guard !loading else {
            loadAgain = true
            return []
        }
        loading = true
        loadAgain = false
        requestedAbove = peerKnown
        return [.loadStoredBatches(above: peerKnown, limit: configuration.chunkBatches)]
    }

    private mutating func sendClock(now: Duration) -> ReplicationAction {
        counters.clocksSent += 1
        lastClockSentAt = now
        return .send(.clock(conversation: conversation, clock: localClock))
    }

    private mutating func nextRoundDelay() -> Duration {
        let spread = configuration.antiEntropyInterval * configuration.jitterFraction
        let fraction = Double(random.next() >> 11) / Double(1 << 53)
        return configuration.antiEntropyInterval + spread * fraction
    }
}
