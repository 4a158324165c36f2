import ChatFuzzing
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Small valid inputs the wire fixtures do not cover: sequence states, document and conversation
/// snapshots, a clock frame, signed ephemeral updates and session frames. Deterministic, so regenerating them gives the same files.
enum SeedCorpus {
    struct Seed {
        var name: String
        var target: FuzzTarget
        var bytes: [UInt8]
    }

    static func generated() -> [Seed] {
        do {
            return try sequenceStates() + snapshots() + frames() + conversationSnapshots() + ephemerals()
                + sessionFrames() + editScripts()
        } catch {
            preconditionFailure("seed construction failed: \(error)") // SAFETY: fixed inputs, not fuzz data
        }
    }

    static let ana = ReplicaID(testValue: 0xA1)
    static let ben = ReplicaID(testValue: 0xB2)

    /// Edit scripts (slot 11): typing on with a backspace, two replicas delivering to each other,
    /// and a jump into the middle of the text.
    static func editScripts() -> [Seed] {
        let typing: [UInt8] = [0, 0, 3, 0, 0, 3, 3, 0, 0, 0, 0, 2, 7, 0, 0]
        let both: [UInt8] = [0, 0, 3, 8, 0, 2, 7, 0, 0, 15, 0, 0, 1, 0xFE, 1, 9, 1, 3, 12, 0, 1, 7, 0, 0, 15, 0, 0]
        let jump: [UInt8] = [0, 0, 3, 0, 0, 3, 0, 0, 3, 6, 0, 5, 0, 0, 1, 5, 0, 2, 7, 0, 0]
        return [
            Seed(name: "edits-typing", target: .sequenceEdits, bytes: typing),
            Seed(name: "edits-both", target: .sequenceEdits, bytes: both),
            Seed(name: "edits-jump", target: .sequenceEdits, bytes: jump),
        ]
    }

    static func sequenceStates() throws -> [Seed] {
        // Nothing yet.
        let empty = SequenceCRDT<Unicode.Scalar>(replica: ana)

        // One replica typing, correcting and deleting (spans, tombstones, delete history).
        var typed = SequenceCRDT<Unicode.Scalar>(replica: ana)
        try typed.insert(contentsOf: Array("Hello wrld".unicodeScalars), at: 0)
        try typed.insert("o", at: 7)
        try typed.insert(contentsOf: Array(" — ça va? 👋".unicodeScalars), at: typed.count)
        try typed.remove(at: 0, count: 1)
        try typed.insert("h", at: 0)

        // Two replicas editing concurrently and merging (explicit origins, several replicas).
        var a = SequenceCRDT<Unicode.Scalar>(replica: ana)
        var b = SequenceCRDT<Unicode.Scalar>(replica: ben)
        let base = try a.insert(contentsOf: Array("abcdef".unicodeScalars), at: 0)
        try b.apply(base)
        let fromA = try a.insert(contentsOf: Array("XY".unicodeScalars), at: 3)
        let fromB = try b.insert(contentsOf: Array("12".unicodeScalars), at: 3)
        let deletes = try b.remove(at: 0, count: 2)
        try a.apply(fromB)
        try a.apply(contentsOf: deletes)
        try b.apply(fromA)

        // Prose typed and revised: text long enough that the state deflates it.
        var prose = SequenceCRDT<Unicode.Scalar>(replica: ana)
        for round in 0 ..< 12 {
            try prose.insert(contentsOf: Array("the merge of edits, round \(round); ".unicodeScalars), at: prose.count)
        }
        try prose.remove(at: 40, count: 30)
        try prose.insert(contentsOf: Array("é ✓ ".unicodeScalars), at: 10)

        return [
            Seed(name: "sequence-prose", target: .sequenceState, bytes: prose.encodedState()),
            Seed(name: "sequence-empty", target: .sequenceState, bytes: empty.encodedState()),
            Seed(name: "sequence-typed", target: .sequenceState, bytes: typed.encodedState()),
            Seed(name: "sequence-merged", target: .sequenceState, bytes: a.encodedState()),
            Seed(name: "sequence-merged-other", target: .sequenceState, bytes: b.encodedState()),
        ]
    }

    static func snapshots() throws -> [Seed] {
        let empty = ConversationDocument(localReplica: ana)

        var document = ConversationDocument(localReplica: ana)
        var counters: [ReplicaID: UInt32] = [:]
        func apply(_ op: ConversationOp, by author: ReplicaID, at timestamp: UInt64) throws {
            let counter = counters[author, default: 0]
            try document.apply(op, id: OpID(replica: author, counter: counter), timestamp: timestamp)
            counters[author] = counter + op.idCount
        }
        try apply(.genesis(Genesis(title: "fuzz seed", nonce: Array(0 ..< 16))), by: ana, at: 1_750_000_000_000)
        try apply(.setProfile(Profile(displayName: "Ana", colour: 0x3366CC, status: "seeding", statusEmoji: "🌱")),
                  by: ana, at: 1_750_000_000_100)
        try apply(.setPermission(member: ben, permission: .edit), by: ana, at: 1_750_000_000_200)
        let first = OpID(replica: ana, counter: 3)
        try apply(.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("Hi Ben".unicodeScalars))),
                  by: ana, at: 1_750_000_001_000)
        try apply(.join(inviteToken: Array(repeating: 0x42, count: 8)), by: ben, at: 1_750_000_002_000)
        let second = OpID(replica: ben, counter: 1)
        try apply(.postMessage(PostMessage(originLeft: first, originRight: nil, body: Array("hey 👋".unicodeScalars))),
                  by: ben, at: 1_750_000_003_000)
        try apply(.insertText(InsertText(message: first, originLeft: OpID(replica: ana, counter: 9), originRight: nil,
                                         text: Array("!".unicodeScalars))), by: ana, at: 1_750_000_004_000)
        try apply(.deleteText(DeleteText(message: second, target: OpID(replica: ben, counter: 2), count: 1)),
                  by: ben, at: 1_750_000_005_000)
        try apply(.postMessage(PostMessage(originLeft: second, originRight: nil, body: [])), by: ben, at: 1_750_000_006_000)
        try apply(.deleteMessage(message: OpID(replica: ben, counter: counters[ben, default: 1] - 1)),
                  by: ben, at: 1_750_000_007_000)
        try apply(.setSettings(ConversationSettings(messagesPerMinute: 30, maxMessageBytes: 4096, isPublic: true)),
                  by: ana, at: 1_750_000_008_000)

        return [
            Seed(name: "snapshot-empty", target: .snapshot, bytes: empty.encodedSnapshot()),
            Seed(name: "snapshot-conversation", target: .snapshot, bytes: document.encodedSnapshot()),
        ]
    }

    static func frames() -> [Seed] {
        let conversation = ConversationID(bytes: Array(repeating: 0xC0, count: ConversationID.byteCount))
            ?? { preconditionFailure("32 bytes make a conversation id") }() // SAFETY: constant
        let clock = DataFrame.clock(conversation: conversation, clock: VectorClock([ana: 12, ben: 3]))
        let header = FrameHeader(type: DataFrame.FrameType.batches.rawValue, length: 0)
        return [
            Seed(name: "frame-clock", target: .frame, bytes: clock.encoded()),
            // A header alone: DataFrame then sees an empty body.
            Seed(name: "frame-header-only", target: .frame, bytes: header.bytes),
        ]
    }

    static func conversationSnapshots() -> [Seed] {
        let empty = Conversation(id: FuzzFixtures.conversation, localReplica: FuzzFixtures.localReplica,
                                 verifyInvite: { _ in nil })
        var conversation = empty
        // Ana founds the conversation, names herself, lets Ben edit and says hello (counters 0–3).
        _ = conversation.receive(OperationBatch(author: ana, firstCounter: 0, clock: VectorClock(), timestamp: 1_750_000_000_000, operations: [
            .genesis(Genesis(title: "fuzz seed", nonce: Array(0 ..< 16))),
            .setProfile(Profile(displayName: "Ana", colour: 0x3366CC, status: "seeding", statusEmoji: "🌱")),
            .setPermission(member: ben, permission: .edit),
            .postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("Hi Ben".unicodeScalars))),
        ]))
        let first = OpID(replica: ana, counter: 3)
        // Ben answers, then joins with a token no verifier accepts (excluded, kept with its reason).
        _ = conversation.receive(OperationBatch(author: ben, firstCounter: 0, clock: VectorClock([ana: 10]), timestamp: 1_750_000_003_000, operations: [
            .postMessage(PostMessage(originLeft: first, originRight: nil, body: Array("hey 👋".unicodeScalars))),
        ]))
        let second = OpID(replica: ben, counter: 0)
        _ = conversation.receive(OperationBatch(author: ben, firstCounter: conversation.clock[ben], clock: VectorClock([ana: 10]),
                                                timestamp: 1_750_000_004_000, operations: [
            .join(inviteToken: Array(repeating: 0x42, count: 8)),
            .deleteText(DeleteText(message: second, target: OpID(replica: ben, counter: 1), count: 1)),
        ]))
        // Ana edits her message and changes the settings.
        _ = conversation.receive(OperationBatch(author: ana, firstCounter: conversation.clock[ana], clock: conversation.clock,
                                                timestamp: 1_750_000_005_000, operations: [
            .insertText(InsertText(message: first, originLeft: OpID(replica: ana, counter: 9), originRight: nil,
                                   text: Array("!".unicodeScalars))),
            .setSettings(ConversationSettings(messagesPerMinute: 30, maxMessageBytes: 4096, isPublic: true)),
            .postMessage(PostMessage(originLeft: second, originRight: nil, body: Array("bye".unicodeScalars))),
        ]))
        return [
            Seed(name: "conversation-empty", target: .conversationSnapshot, bytes: empty.encodedSnapshot()),
            Seed(name: "conversation-messages", target: .conversationSnapshot, bytes: conversation.encodedSnapshot()),
        ]
    }

    static func ephemerals() throws -> [Seed] {
        let alice = FuzzFixtures.alice
        func signed(_ counter: UInt64, _ payload: EphemeralPayload) throws -> [UInt8] {
            let update = EphemeralUpdate(conversation: FuzzFixtures.conversation, origin: alice.publicKey.replicaID,
                                         counter: counter, sentAt: 1_750_000_000_000 + counter, payload: payload)
            return try SignedEphemeral(update: update, sign: { alice.sign($0).bytes }).bytes
        }
        let message = OpID(replica: ana, counter: 3)
        return [
            Seed(name: "ephemeral-presence", target: .signedEphemeral, bytes: try signed(1, .presence(
                Presence(status: .away, lastActiveAt: 1_749_999_999_000, customStatus: "lunch", statusEmoji: "🥪")))),
            Seed(name: "ephemeral-typing", target: .signedEphemeral,
                 bytes: try signed(2, .typing(Typing(isTyping: true, message: message)))),
            Seed(name: "ephemeral-cursor", target: .signedEphemeral, bytes: try signed(3, .cursor(
                Cursor(scrollTop: 120, scrollHeight: 4_000, viewportHeight: 800, focusedMessage: message)))),
        ]
    }

    static func sessionFrames() throws -> [Seed] {
        // A dialer other than the listener (alice): the fixture key with seed 0x02….
        let dialer = try SigningKey(seed: Array(repeating: 0x02, count: SigningKey.seedByteCount))
        let hello = SessionHello(versions: SessionConfiguration.currentVersions,
                                 ephemeralKey: Array(repeating: 0xE1, count: SessionHello.ephemeralKeyBytes),
                                 nonce: Array(repeating: 0x4E, count: SessionHello.nonceBytes))
        let manyVersions = SessionHello(versions: [1, 2, 3], ephemeralKey: Array(repeating: 0xE2, count: SessionHello.ephemeralKeyBytes),
                                        nonce: Array(repeating: 0x4F, count: SessionHello.nonceBytes))
        let helloFrame = SessionFrame.hello(hello).encoded()
        return [
            Seed(name: "session-hello", target: .sessionFrame, bytes: helloFrame),
            Seed(name: "session-hello-reply", target: .sessionFrame, bytes: SessionFrame.helloReply(SessionHelloReply(
                selectedVersion: 3, ephemeralKey: Array(repeating: 0xE3, count: SessionHello.ephemeralKeyBytes),
                nonce: Array(repeating: 0x4D, count: SessionHello.nonceBytes))).encoded()),
            Seed(name: "session-stream-header", target: .sessionFrame,
                 bytes: SessionFrame.streamHeader(Array(repeating: 0x5B, count: SessionHelloReply.streamHeaderBytes)).encoded()),
            Seed(name: "session-identify", target: .sessionFrame, bytes: SessionFrame.identify(SessionIdentity(
                identity: dialer.publicKey.replicaID, signature: Array(repeating: 0x51, count: 64))).encoded()),
            Seed(name: "session-request", target: .sessionFrame, bytes: SessionFrame.request(SessionRequest(
                conversations: [FuzzFixtures.conversation], inviteToken: Array(repeating: 0x42, count: 8), hasMore: true)).encoded()),
            Seed(name: "session-request-code", target: .sessionFrame, bytes: SessionFrame.request(SessionRequest(
                conversations: [], codeLookup: Array(repeating: 0x3C, count: SessionRequest.codeLookupBytes))).encoded()),
            Seed(name: "session-resolved", target: .sessionFrame,
                 bytes: SessionFrame.resolved(sealedTokens: [Array(repeating: 0x5E, count: 96), [0x5F]]).encoded()),
            Seed(name: "session-ping", target: .sessionFrame, bytes: SessionFrame.ping(nonce: 0x0102_0304_0506_0708, isReply: false).encoded()),
            Seed(name: "session-welcome", target: .sessionFrame,
                 bytes: SessionFrame.welcome(conversations: [FuzzFixtures.conversation]).encoded()),
            Seed(name: "session-refuse", target: .sessionFrame, bytes: SessionFrame.refuse(.notAMember).encoded()),
            Seed(name: "listener-hello", target: .sessionListener, bytes: helloFrame),
            Seed(name: "listener-hello-versions", target: .sessionListener, bytes: SessionFrame.hello(manyVersions).encoded()),
            Seed(name: "listener-session", target: .sessionListener, bytes: try dialerTranscript(dialer)),
        ]
    }

    /// Everything a real dialer (key `dialer`) sends the slot-10 listener in a whole session: hello,
    /// stream header, sealed identity and request, then a sealed clock frame and a sealed ping. Replayed into ``FuzzFixtures/startedListener()``
    /// (same seeded randomness) it reaches the established state.
    static func dialerTranscript(_ dialer: SigningKey) throws -> [UInt8] {
        var randomness = SeededGenerator(seed: 0xD1A1)
        var dialing = SessionStateMachine(role: .dialer, identity: dialer,
                                          configuration: SessionConfiguration(conversations: [FuzzFixtures.conversation]),
                                          admission: { request in .admit(conversations: request.conversations) },
                                          randomness: &randomness)
        var listener = FuzzFixtures.startedListener()
        var sent: [UInt8] = []
        var toListener = dialing.start(now: .zero)
        var established = false
        for _ in 0 ..< 8 where !toListener.isEmpty {
            var toDialer: [SessionAction] = []
            for case .send(let bytes) in toListener {
                sent += bytes
                toDialer += listener.receive(bytes, now: .milliseconds(1))
            }
            toListener = []
            for action in toDialer {
                if case .send(let bytes) = action { toListener += dialing.receive(bytes, now: .milliseconds(1)) }
            }
            if dialing.peer != nil, listener.peer != nil { established = true }
        }
        guard established else { preconditionFailure("the seed handshake did not complete") } // SAFETY: fixed inputs
        for case .send(let bytes) in try dialing.send(.clock(conversation: FuzzFixtures.conversation,
                                                              clock: VectorClock([ana: 4, ben: 2]))) {
            sent += bytes
        }
        for case .send(let bytes) in dialing.timerFired(.keepalive, now: .seconds(16)) { sent += bytes }
        return sent
    }
}
