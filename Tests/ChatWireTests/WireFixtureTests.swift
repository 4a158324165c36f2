import ChatCore
import ChatCrypto
import ChatWire
import Foundation
import Testing

/// Wire test vectors in Fixtures/wire/v2: batches, a token and data frames (batches, ephemeral
/// updates, peer addresses) signed with fixed test keys. They must decode and verify forever; the
/// encoder must still produce them byte for byte. (v2: batches name their causal past by hash,
/// protocol 5; the v1 batches, which carried a vector clock, no longer decode and were retired.)
/// Regenerate (only for a deliberate new format version) with
/// `STREAMINGCHAT_WRITE_FIXTURES=1 swift test --filter WireFixtureTests`.
@Suite struct WireFixtureTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/wire/v2")

    /// The fixture contents, rebuilt from scratch.
    static func expected() -> [(name: String, bytes: [UInt8])] {
        let alice = TestKeys.alice, bob = TestKeys.bob
        let a = alice.publicKey.replicaID, b = bob.publicKey.replicaID
        let zero = [UInt8](repeating: 0, count: 32)
        let genesis = SignedBatch(content: BatchContent(
            conversation: nil, author: a, firstCounter: 0, timestamp: 1_750_000_000_000, previousHash: zero,
            dependencies: [], operations: [.genesis(Genesis(title: "StreamingChat fixture", nonce: Array(0 ..< 16)))]),
            sign: { alice.sign($0).bytes })
        let conversation = ConversationID(bytes: Hashing.blake2b(genesis.bytes))! // SAFETY: 32-byte hash
        let message = OpID(replica: a, counter: 1)
        let aliceOne = SignedBatch(content: BatchContent(
            conversation: conversation, author: a, firstCounter: 1, timestamp: 1_750_000_001_000,
            previousHash: Hashing.blake2b(genesis.bytes), dependencies: [], operations: [
                .postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("Hello, world 👋".unicodeScalars))),
                .insertText(InsertText(message: message, originLeft: OpID(replica: a, counter: 6), originRight: OpID(replica: a, counter: 7),
                                       text: Array(" there".unicodeScalars))),
                .deleteText(DeleteText(message: message, target: OpID(replica: a, counter: 15), count: 2)),
                .setProfile(Profile(displayName: "Ana", colour: 0x3366CC, status: "writing fixtures", statusEmoji: "🧪")),
                .setSettings(ConversationSettings(messagesPerMinute: 20, maxMessageBytes: 16384, isPublic: false)),
                .setPermission(member: b, permission: .comment),
            ]), sign: { alice.sign($0).bytes })
        let token = InviteToken(content: InviteTokenContent(
            conversation: conversation, permission: .comment, issuer: a, tokenID: Array(repeating: 0x11, count: 16),
            issuedAt: 1_750_000_002_000, expiresAt: 1_760_000_000_000, useLimit: 1, label: "for Ben",
            addresses: ["127.0.0.1:7400"]), sign: { alice.sign($0).bytes })
        let bobZero = SignedBatch(content: BatchContent(
            conversation: conversation, author: b, firstCounter: 0, timestamp: 1_750_000_003_000, previousHash: zero,
            dependencies: [aliceOne.asDependency], operations: [
                .join(inviteToken: token.bytes),
                .postMessage(PostMessage(originLeft: message, originRight: nil, body: Array("Hi Ana — ça va?".unicodeScalars))),
                .deleteMessage(message: OpID(replica: b, counter: 1)),
            ]), sign: { bob.sign($0).bytes })
        let sharing = sharingFixtureBatch(after: aliceOne, conversation: conversation)
        let frame = DataFrame.batches(conversation: conversation, batches: [genesis.bytes, aliceOne.bytes, bobZero.bytes])
        let ephemeral = DataFrame.ephemeral(conversation: conversation, updates: ephemeralFixtureUpdates(conversation))
        let peers = DataFrame.peers(conversation: conversation, addresses: peerFixtureAddresses())
        return [("genesis.batch", genesis.bytes), ("alice-1.batch", aliceOne.bytes), ("invite.token", token.bytes),
                ("bob-0.batch", bobZero.bytes), ("batches.frame", frame.encoded()),
                ("ephemeral.frame", ephemeral.encoded()), ("peers.frame", peers.encoded()),
                ("sharing.batch", sharing.bytes)] + admissionFixtures(token: token, conversation: conversation, after: aliceOne)
    }

    /// Alice's signed admission of bob on the invite token, as a data frame, and bob's join
    /// carrying it (operation tag 15) on a chain of its own.
    static func admissionFixtures(token: InviteToken, conversation: ConversationID,
                                  after aliceOne: SignedBatch) -> [(name: String, bytes: [UInt8])] {
        let a = TestKeys.alice.publicKey.replicaID, b = TestKeys.bob.publicKey.replicaID
        let admission = SignedAdmission(content: JoinAdmission(
            conversation: conversation, joiner: b, tokenID: token.content.tokenID, admitter: a,
            admittedAt: 1_750_000_002_500, usesSeen: 0)) { TestKeys.alice.sign($0).bytes }
        let join = SignedBatch(content: BatchContent(
            conversation: conversation, author: b, firstCounter: 0, timestamp: 1_750_000_003_000,
            previousHash: [UInt8](repeating: 0, count: 32),
            dependencies: [aliceOne.asDependency],
            operations: [.join(inviteToken: token.bytes, admission: admission.bytes)]), sign: { TestKeys.bob.sign($0).bytes })
        return [("admission.frame", DataFrame.admission(conversation: conversation, admission: admission.bytes).encoded()),
                ("admitted-join.batch", join.bytes)]
    }

    /// The sharing operations in one batch by alice, after alice-1 (tags 11–14).
    static func sharingFixtureOperations() -> [ConversationOp] {
        let b = TestKeys.bob.publicKey.replicaID
        return [
            .createLink(InviteRecord(tokenID: Array(repeating: 0x21, count: 16), permission: .comment,
                                     expiresAt: 1_760_000_000_000, useLimit: 5, label: "team link")),
            .createLink(InviteRecord(tokenID: Array(repeating: 0x22, count: 16), permission: .edit, label: "for Ben ✉️",
                                     invitee: b)),
            .revokeLink(tokenID: Array(repeating: 0x21, count: 16)),
            .declineInvite(tokenID: Array(repeating: 0x23, count: 16)),
            .requestAccess(permission: .admin, note: "may I moderate? 🛡️"),
        ]
    }

    static func sharingFixtureBatch(after aliceOne: SignedBatch, conversation: ConversationID) -> SignedBatch {
        let a = TestKeys.alice.publicKey.replicaID
        let next = aliceOne.content.firstCounter + UInt32(aliceOne.content.idCount)
        return SignedBatch(content: BatchContent(
            conversation: conversation, author: a, firstCounter: next, timestamp: 1_750_000_006_000,
            previousHash: Hashing.blake2b(aliceOne.bytes), dependencies: [],
            operations: sharingFixtureOperations()), sign: { TestKeys.alice.sign($0).bytes })
    }

    /// Signed ephemeral updates of every payload kind, by alice (presence, typing, cursor, heartbeat)
    /// and bob (goodbye).
    static func ephemeralFixtureUpdates(_ conversation: ConversationID) -> [[UInt8]] {
        let alice = TestKeys.alice, bob = TestKeys.bob
        let message = OpID(replica: alice.publicKey.replicaID, counter: 1)
        let byAlice: [EphemeralPayload] = [
            .presence(Presence(status: .doNotDisturb, lastActiveAt: 1_750_000_004_000, customStatus: "focus", statusEmoji: "🎧")),
            .typing(Typing(isTyping: true, message: message)),
            .cursor(Cursor(scrollTop: 120, scrollHeight: 4_800, viewportHeight: 900, focusedMessage: message)),
            .heartbeat,
        ]
        var updates: [(EphemeralUpdate, SigningKey)] = byAlice.enumerated().map { index, payload in
            (EphemeralUpdate(conversation: conversation, origin: alice.publicKey.replicaID,
                             counter: 1_792_000_004_096_000 + UInt64(index), sentAt: 1_750_000_004_000 + UInt64(index),
                             payload: payload), alice)
        }
        updates.append((EphemeralUpdate(conversation: conversation, origin: bob.publicKey.replicaID,
                                        counter: 1_792_000_005_120_000, sentAt: 1_750_000_005_000, payload: .goodbye), bob))
        return updates.compactMap { update, key in
            // Every field is within limits, so signing cannot fail; a failure shows as a fixture mismatch.
            try? SignedEphemeral(update: update) { key.sign($0).bytes }.bytes
        }
    }

    /// Alice and bob at an IPv4, an IPv6 and a DNS address.
    static func peerFixtureAddresses() -> [PeerAddress] {
        let a = TestKeys.alice.publicKey.replicaID, b = TestKeys.bob.publicKey.replicaID
        return [(a, "127.0.0.1", 7400), (b, "::1", 7401), (b, "bob.streamingchat.example", 443)].compactMap { replica, host, port in
            // Valid by construction; a failure shows as a fixture mismatch.
            try? PeerAddress(replica: replica, host: host, port: port)
        }
    }

    @Test func fixturesDecodeVerifyAndAreReproduced() throws {
        let expected = Self.expected()
        if ProcessInfo.processInfo.environment["STREAMINGCHAT_WRITE_FIXTURES"] == "1" {
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            for fixture in expected { try Data(fixture.bytes).write(to: Self.folder.appendingPathComponent(fixture.name)) }
        }
        var stored: [String: [UInt8]] = [:]
        for fixture in expected {
            stored[fixture.name] = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent(fixture.name)))
            #expect(stored[fixture.name] == fixture.bytes, "\(fixture.name): the encoder no longer reproduces the fixture")
        }
        // Decode and verify the stored bytes, independently of the encoder.
        var previous = [UInt8](repeating: 0, count: 32)
        for name in ["genesis.batch", "alice-1.batch"] {
            let batch = try SignedBatch(decoding: try #require(stored[name]))
            #expect(batch.content.author == TestKeys.alice.publicKey.replicaID)
            #expect(batch.content.previousHash == previous, "\(name) continues the chain")
            let signature = try #require(Signature(bytes: batch.signature))
            #expect(TestKeys.alice.publicKey.isValidSignature(signature, for: batch.signedBytes), "\(name) verifies")
            previous = Hashing.blake2b(batch.bytes)
        }
        let genesis = try SignedBatch(decoding: try #require(stored["genesis.batch"]))
        let conversation = try #require(ConversationID(bytes: Hashing.blake2b(genesis.bytes)))
        let token = try InviteToken(decoding: try #require(stored["invite.token"]))
        #expect(token.content.conversation == conversation)
        #expect(TestKeys.alice.publicKey.isValidSignature(try #require(Signature(bytes: token.signature)), for: token.signedBytes))
        let bob = try SignedBatch(decoding: try #require(stored["bob-0.batch"]))
        #expect(bob.content.operations.first == .join(inviteToken: token.bytes))
        #expect(TestKeys.bob.publicKey.isValidSignature(try #require(Signature(bytes: bob.signature)), for: bob.signedBytes))
        let frameBytes = try #require(stored["batches.frame"])
        let header = try FrameHeader(decoding: frameBytes.prefix(FrameHeader.byteCount))
        guard case .batches(let frameConversation, let batches) = try DataFrame(type: header.type, body: Array(frameBytes.dropFirst(8))) else {
            Issue.record("frame type")
            return
        }
        #expect(frameConversation == conversation)
        #expect(batches.count == 3)
        try checkConversationFrames(stored, conversation: conversation)
        let sharing = try SignedBatch(decoding: try #require(stored["sharing.batch"]))
        #expect(sharing.content.operations == Self.sharingFixtureOperations())
        #expect(sharing.content.previousHash == Hashing.blake2b(try #require(stored["alice-1.batch"])))
        #expect(TestKeys.alice.publicKey.isValidSignature(try #require(Signature(bytes: sharing.signature)), for: sharing.signedBytes))
        try checkAdmissionFixtures(stored, conversation: conversation, token: token)
    }

    /// The admission frame decodes to alice's signed admission of bob, and bob's join carries it.
    func checkAdmissionFixtures(_ stored: [String: [UInt8]], conversation: ConversationID, token: InviteToken) throws {
        let frameBytes = try #require(stored["admission.frame"])
        let header = try FrameHeader(decoding: frameBytes.prefix(FrameHeader.byteCount))
        guard case .admission(let frameConversation, let bytes) = try DataFrame(
            type: header.type, body: Array(frameBytes.dropFirst(FrameHeader.byteCount))) else {
            Issue.record("admission frame type")
            return
        }
        #expect(frameConversation == conversation)
        let admission = try SignedAdmission(decoding: bytes)
        #expect(admission.content.joiner == TestKeys.bob.publicKey.replicaID)
        #expect(admission.content.admitter == TestKeys.alice.publicKey.replicaID)
        #expect(admission.content.tokenID == token.content.tokenID && admission.content.admittedAt == 1_750_000_002_500)
        #expect(TestKeys.alice.publicKey.isValidSignature(try #require(Signature(bytes: admission.signature)),
                                                          for: admission.signedBytes))
        let join = try SignedBatch(decoding: try #require(stored["admitted-join.batch"]))
        #expect(join.content.operations == [.join(inviteToken: token.bytes, admission: bytes)])
        #expect(TestKeys.bob.publicKey.isValidSignature(try #require(Signature(bytes: join.signature)), for: join.signedBytes))
    }

    /// The `ephemeral` and `peers` frames decode, and every update in the first verifies.
    func checkConversationFrames(_ stored: [String: [UInt8]], conversation: ConversationID) throws {
        let ephemeralBytes = try #require(stored["ephemeral.frame"])
        let ephemeralHeader = try FrameHeader(decoding: ephemeralBytes.prefix(FrameHeader.byteCount))
        guard case .ephemeral(let ephemeralConversation, let updates) = try DataFrame(
            type: ephemeralHeader.type, body: Array(ephemeralBytes.dropFirst(FrameHeader.byteCount))) else {
            Issue.record("ephemeral frame type")
            return
        }
        #expect(ephemeralConversation == conversation)
        #expect(updates.count == 5)
        let keys = [TestKeys.alice.publicKey.replicaID: TestKeys.alice.publicKey,
                    TestKeys.bob.publicKey.replicaID: TestKeys.bob.publicKey]
        for bytes in updates {
            let update = try SignedEphemeral(decoding: bytes)
            #expect(update.update.conversation == conversation)
            let key = try #require(keys[update.update.origin])
            #expect(key.isValidSignature(try #require(Signature(bytes: update.signature)), for: update.signedBytes))
        }
        let peersBytes = try #require(stored["peers.frame"])
        let peersHeader = try FrameHeader(decoding: peersBytes.prefix(FrameHeader.byteCount))
        guard case .peers(let peersConversation, let addresses) = try DataFrame(
            type: peersHeader.type, body: Array(peersBytes.dropFirst(FrameHeader.byteCount))) else {
            Issue.record("peers frame type")
            return
        }
        #expect(peersConversation == conversation)
        #expect(addresses.map(\.host) == ["127.0.0.1", "::1", "bob.streamingchat.example"])
        #expect(addresses.map(\.port) == [7400, 7401, 443])
    }
}

extension SignedBatch {
    /// This batch as another author's dependency.
    var asDependency: BatchDependency {
        BatchDependency(replica: content.author, count: content.firstCounter + UInt32(idCount), hash: Hashing.blake2b(bytes))
    }
}
