import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Testing

/// The replication state machine fed events directly.
@Suite struct ReplicationStateMachineTests {
    /// One author's chain of `count` single-op batches (genesis first) and the conversation id.
    static func chain(_ count: Int, bodyBytes: Int = 0) -> (ConversationID, [AuthenticatedBatch]) {
        let key = try! SigningKey(seed: Array(repeating: 3, count: 32))
        let author = key.publicKey.replicaID
        var batches: [AuthenticatedBatch] = []
        var previous = BatchVerifier.Head.empty.hash
        var conversation: ConversationID?
        var counter: UInt32 = 0
        for index in 0 ..< count {
            let ops: [ConversationOp] = index == 0
                ? [.genesis(Genesis(title: "t", nonce: Array(repeating: 1, count: 16)))]
                : [.postMessage(PostMessage(originLeft: nil, originRight: nil,
                                            body: Array("m\(index)".unicodeScalars) + Array(repeating: "x", count: bodyBytes)))]
            let content = BatchContent(conversation: conversation, author: author, firstCounter: counter,
                                       timestamp: 1_000 + UInt64(index), previousHash: previous, dependencies: [], operations: ops)
            let signed = SignedBatch(content: content) { key.sign($0).bytes }
            previous = Hashing.blake2b(signed.bytes)
            counter += UInt32(content.idCount)
            if index == 0 { conversation = ConversationID(bytes: previous) }
            batches.append(AuthenticatedBatch(storedBatch: signed, hash: previous))
        }
        return (conversation!, batches)
    }

    static func clock(of batches: some Sequence<AuthenticatedBatch>) -> VectorClock {
        var clock = VectorClock()
        for batch in batches { clock[batch.author] = max(clock[batch.author], batch.endCounter) }
        return clock
    }

    @Test func startSendsClockAndArmsTimer() {
        let (conversation, batches) = Self.chain(3)
        var machine = ReplicationStateMachine(conversation: conversation, seed: 1)
        let actions = machine.start(localClock: Self.clock(of: batches), now: .zero)
        #expect(actions.count == 2)
        #expect(actions.first == .send(.clock(conversation: conversation, clock: Self.clock(of: batches))))
        guard case .scheduleTimer(let delay) = actions.last else { Issue.record("no timer"); return }
        #expect(delay >= .seconds(5) && delay <= .seconds(6))
    }

    /// Wants by hash: ours go out in frames of at most 256, the peer's are handed to the shell
    /// to answer from the store, and nothing is asked or answered before the session runs.
    @Test func wantsGoOutInFramesAndThePeersAreAnswered() throws {
        let (conversation, batches) = Self.chain(2)
        var machine = ReplicationStateMachine(conversation: conversation, seed: 1)
        let wanted = (1 ... 300).map { BatchDependency(replica: batches[0].author, count: UInt32($0), hash: batches[0].hash) }
        #expect(machine.want(wanted).isEmpty, "not running yet")
        _ = machine.start(localClock: Self.clock(of: batches), now: .zero)
        let frames = machine.want(wanted)
        #expect(frames == [.send(.want(conversation: conversation, dependencies: Array(wanted.prefix(256)))),
                           .send(.want(conversation: conversation, dependencies: Array(wanted.dropFirst(256))))])
        let asked = try machine.receive(.want(conversation: conversation, dependencies: Array(wanted.prefix(3))), now: .zero)
        #expect(asked == [.sendWanted(Array(wanted.prefix(3)))])
        #expect(machine.counters.wantsSent == 300 && machine.counters.wantsReceived == 3)
        #expect(throws: ReplicationError.wrongConversation) {
            try machine.receive(.want(conversation: ConversationID(bytes: [UInt8](repeating: 1, count: 32))!, dependencies: wanted), now: .zero)
        }
    }

    @Test func peerClockTriggersChunkedCatchUp() throws {
        let (conversation, batches) = Self.chain(5)
        let configuration = ReplicationConfiguration(chunkBatches: 2)
        var machine = ReplicationStateMachine(conversation: conversation, configuration: configuration, seed: 1)
        _ = machine.start(localClock: Self.clock(of: batches), now: .zero)
        let peerClock = Self.clock(of: batches.prefix(1))
        let actions = try machine.receive(.clock(conversation: conversation, clock: peerClock), now: .milliseconds(10))
        #expect(actions == [.loadStoredBatches(above: peerClock, limit: 2)])
        // The shell hands back two batches: they are sent and the next chunk is requested.
        let next = machine.storedBatchesLoaded(Array(batches[1 ..< 3]), now: .milliseconds(11))
        #expect(next.first == .send(.batches(conversation: conversation, batches: batches[1 ..< 3].map(\.batch.bytes))))
        #expect(next.last == .loadStoredBatches(above: Self.clock(of: batches.prefix(3)), limit: 2))
        let last = machine.storedBatchesLoaded(Array(batches[3 ..< 5]), now: .milliseconds(12))
        #expect(last == [.send(.batches(conversation: conversation, batches: batches[3 ..< 5].map(\.batch.bytes)))])
        #expect(machine.counters.batchesSent == 4)
    }

    /// Issue 15, item 4: a catch-up chunk of 256 messages of 16 KiB (4 MiB, over one frame's
    /// limit) goes out as several frames, each under the byte budget; so does a push.
    @Test func framesAreSplitByBytes() throws {
        let (conversation, batches) = Self.chain(257, bodyBytes: 16 * 1024)
        var machine = ReplicationStateMachine(conversation: conversation, seed: 1)
        _ = machine.start(localClock: Self.clock(of: batches), now: .zero)
        let peerClock = Self.clock(of: batches.prefix(1))
        _ = try machine.receive(.clock(conversation: conversation, clock: peerClock), now: .milliseconds(10))
        let actions = machine.storedBatchesLoaded(Array(batches.dropFirst()), now: .milliseconds(11))
        var sent: [[UInt8]] = []
        for action in actions {
            guard case .send(.batches(_, let frame)) = action else { continue }
            #expect(frame.reduce(0) { $0 + $1.count } <= WireLimits.default.maxFrameBytes / 2)
            #expect(DataFrame.batches(conversation: conversation, batches: frame).encoded().count <= WireLimits.default.maxFrameBytes)
            sent += frame
        }
        #expect(sent == batches.dropFirst().map(\.batch.bytes), "every batch once, in order")
        #expect(actions.count { if case .send = $0 { true } else { false } } >= 3)
        #expect(machine.counters.batchesSent == 256)
    }

    @Test func pushesAreDeduplicated() throws {
        let (conversation, batches) = Self.chain(4)
        var machine = ReplicationStateMachine(conversation: conversation, seed: 1)
        _ = machine.start(localClock: Self.clock(of: batches.prefix(2)), now: .zero)
        // Before the peer's clock, pushes wait for the delta sync.
        #expect(machine.pushNew(batches: [batches[2]], clockAfter: Self.clock(of: batches.prefix(3)), now: .zero).isEmpty)
        let peerClock = Self.clock(of: batches.prefix(3))
        #expect(try machine.receive(.clock(conversation: conversation, clock: peerClock), now: .zero).isEmpty)
        // The peer has batch 2 already: not sent. Batch 3 continues its chain: sent once.
        let push = machine.pushNew(batches: [batches[2], batches[3]], clockAfter: Self.clock(of: batches), now: .zero)
        #expect(push == [.send(.batches(conversation: conversation, batches: [batches[3].batch.bytes]))])
        #expect(machine.pushNew(batches: [batches[3]], clockAfter: Self.clock(of: batches), now: .zero).isEmpty)
        #expect(machine.counters.batchesDeduplicated == 2)
    }

    @Test func batchesThePeerSentAreNotSentBack() throws {
        let (conversation, batches) = Self.chain(3)
        var machine = ReplicationStateMachine(conversation: conversation, seed: 1)
        _ = machine.start(localClock: Self.clock(of: batches.prefix(1)), now: .zero)
        _ = try machine.receive(.clock(conversation: conversation, clock: Self.clock(of: batches.prefix(1))), now: .zero)
        let incoming = try machine.receive(.batches(conversation: conversation, batches: batches[1...].map(\.batch.bytes)), now: .zero)
        #expect(incoming == [.ingest(batches[1...].map(\.batch.bytes))])
        machine.peerHolds(Array(batches[1...]))
        #expect(machine.pushNew(batches: Array(batches[1...]), clockAfter: Self.clock(of: batches), now: .zero).isEmpty)
    }

    @Test func gapsAreLeftToCatchUp() throws {
        let (conversation, batches) = Self.chain(4)
        var machine = ReplicationStateMachine(conversation: conversation, seed: 1)
        _ = machine.start(localClock: Self.clock(of: batches.prefix(2)), now: .zero)
        _ = try machine.receive(.clock(conversation: conversation, clock: Self.clock(of: batches.prefix(1))), now: .zero)
        // The peer lacks batch 1: pushing batch 3 alone would leave a gap, so the store is asked.
        _ = machine.storedBatchesLoaded([], now: .zero)
        let push = machine.pushNew(batches: [batches[3]], clockAfter: Self.clock(of: batches), now: .zero)
        #expect(push.allSatisfy { if case .loadStoredBatches = $0 { true } else { false } })
        #expect(machine.counters.pushesDeferred == 1)
    }

    @Test func refusesForeignAndOversizedFrames() {
        let (conversation, batches) = Self.chain(3)
        let (other, _) = ReplicationStateMachineTests.chainOtherConversation()
        var machine = ReplicationStateMachine(conversation: conversation,
                                              configuration: ReplicationConfiguration(maxIncomingBatchesPerFrame: 2), seed: 1)
        _ = machine.start(localClock: VectorClock(), now: .zero)
        #expect(throws: ReplicationError.wrongConversation) {
            try machine.receive(.clock(conversation: other, clock: VectorClock()), now: .zero)
        }
        #expect(throws: ReplicationError.tooManyBatches(count: 3, limit: 2)) {
            try machine.receive(.batches(conversation: conversation, batches: batches.map(\.batch.bytes)), now: .zero)
        }
        #expect(machine.counters.refused == ["wrong_conversation": 1, "too_many_batches": 1])
    }

    static func chainOtherConversation() -> (ConversationID, Void) {
        (ConversationID(bytes: Array(repeating: 0xAB, count: 32))!, ())
    }

    @Test func timerResendsClockWithSeededJitter() {
        let (conversation, batches) = Self.chain(2)
        var first = ReplicationStateMachine(conversation: conversation, seed: 7)
        var second = ReplicationStateMachine(conversation: conversation, seed: 7)
        let a = first.start(localClock: Self.clock(of: batches), now: .zero) + first.timerFired(now: .seconds(5))
        let b = second.start(localClock: Self.clock(of: batches), now: .zero) + second.timerFired(now: .seconds(5))
        #expect(a == b)
        #expect(a[2] == .send(.clock(conversation: conversation, clock: Self.clock(of: batches))))
        first.stop()
        #expect(first.timerFired(now: .seconds(10)).isEmpty)
    }
}
