import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Testing

/// The gossip de-duplicator: what is fresh is relayed once; duplicates, older updates, forgeries,
/// non-members, other conversations, bad bytes and floods are dropped and counted.
@Suite struct EphemeralGossipTests {
    static let t0: UInt64 = 1_750_000_000_000
    static let now = Duration.milliseconds(Int64(t0))

    let alice: SigningKey
    let bob: SigningKey
    let mallory: SigningKey
    let room = ConversationID(bytes: Array(repeating: 0xE1, count: 32))
    let otherRoom = ConversationID(bytes: Array(repeating: 0xE2, count: 32))
    /// Peers that relay updates to us.
    let peerOne = ReplicaID(testValue: 0x0101)
    let peerTwo = ReplicaID(testValue: 0x0202)

    init() throws {
        alice = try SigningKey(seed: Array(repeating: 0x21, count: 32))
        bob = try SigningKey(seed: Array(repeating: 0x22, count: 32))
        mallory = try SigningKey(seed: Array(repeating: 0x23, count: 32))
    }

    /// Alice and bob are members; mallory is not.
    var isMember: (ReplicaID) -> Bool {
        let members: Set = [alice.publicKey.replicaID, bob.publicKey.replicaID]
        return { members.contains($0) }
    }

    func gossip() throws -> EphemeralGossip {
        EphemeralGossip(conversation: try #require(room))
    }

    /// `key`'s update of `payload` with `counter`, signed by `signer` (the origin's key by default).
    func signed(_ key: SigningKey, counter: UInt64, payload: EphemeralPayload = .typing(Typing(isTyping: true)),
                conversation: ConversationID? = nil, sentAt: UInt64 = EphemeralGossipTests.t0, signer: SigningKey? = nil) throws -> [UInt8] {
        let update = EphemeralUpdate(conversation: try #require(conversation ?? room), origin: key.publicKey.replicaID,
                                     counter: counter, sentAt: sentAt, payload: payload)
        let signingKey = signer ?? key
        return try SignedEphemeral(update: update) { signingKey.sign($0).bytes }.bytes
    }

    @Test func freshIsRelayedOnceAndItsCopiesAreDuplicates() throws {
        var gossip = try gossip()
        let bytes = try signed(alice, counter: 10)
        guard case .fresh(let update) = gossip.receive(bytes, from: peerOne, isMember: isMember, now: Self.now) else {
            Issue.record("a new update is fresh")
            return
        }
        #expect(update.bytes == bytes, "relayed verbatim")
        #expect(update.update.origin == alice.publicKey.replicaID)
        #expect(gossip.registers.typing(of: alice.publicKey.replicaID, now: Self.t0) == Typing(isTyping: true))
        // The same update relayed by another peer, and again by the first.
        #expect(gossip.receive(bytes, from: peerTwo, isMember: isMember, now: Self.now) == .dropped(.staleOrDuplicate))
        #expect(gossip.receive(bytes, from: peerOne, isMember: isMember, now: Self.now + .seconds(1)) == .dropped(.staleOrDuplicate))
        #expect(gossip.counters.fresh == 1)
        #expect(gossip.counters.dropped == ["stale_or_duplicate": 2])
    }

    @Test func olderIsDroppedPerKind() throws {
        var gossip = try gossip()
        let newer = try signed(alice, counter: 20)
        let older = try signed(alice, counter: 19, payload: .typing(Typing(isTyping: false)))
        #expect(gossip.receive(newer, from: peerOne, isMember: isMember, now: Self.now) == .fresh(try SignedEphemeral(decoding: newer)))
        #expect(gossip.receive(older, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.staleOrDuplicate))
        #expect(gossip.registers.typing(of: alice.publicKey.replicaID, now: Self.t0) == Typing(isTyping: true), "older did not apply")
        // Registers are per kind: an older cursor update still counts.
        let cursor = try signed(alice, counter: 5, payload: .cursor(Cursor(scrollTop: 1, scrollHeight: 2, viewportHeight: 1)))
        #expect(gossip.receive(cursor, from: peerTwo, isMember: isMember, now: Self.now) == .fresh(try SignedEphemeral(decoding: cursor)))
    }

    @Test func forgedSignatureIsDroppedAndShadowsNothing() throws {
        var gossip = try gossip()
        let genuine = try signed(alice, counter: 30)
        // Alice as origin, signed by mallory.
        let forged = try signed(alice, counter: 30, signer: mallory)
        #expect(gossip.receive(forged, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.badSignature))
        // One flipped signature bit, and one flipped bit in the signed bytes.
        var flippedSignature = genuine
        flippedSignature[flippedSignature.count - 1] ^= 1
        #expect(gossip.receive(flippedSignature, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.badSignature))
        var flippedContent = try signed(alice, counter: 31, payload: .cursor(Cursor(scrollTop: 8, scrollHeight: 9, viewportHeight: 1)))
        flippedContent[flippedContent.count - WireFormat.signatureBytes - 3] ^= 1
        #expect(gossip.receive(flippedContent, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.badSignature))
        #expect(gossip.registers.knownOrigins.isEmpty, "nothing applied")
        // The genuine update with the forged counter is still fresh.
        #expect(gossip.receive(genuine, from: peerTwo, isMember: isMember, now: Self.now) == .fresh(try SignedEphemeral(decoding: genuine)))
        #expect(gossip.counters.dropped == ["bad_signature": 3])
    }

    @Test func nonMemberIsDropped() throws {
        var gossip = try gossip()
        let bytes = try signed(mallory, counter: 1)
        #expect(gossip.receive(bytes, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.notMember))
        #expect(gossip.receive(bytes, from: nil, isMember: isMember, now: Self.now) == .dropped(.notMember))
        #expect(gossip.registers.knownOrigins.isEmpty)
        #expect(gossip.counters.dropped == ["not_member": 2])
    }

    @Test func wrongConversationIsDropped() throws {
        var gossip = try gossip()
        let bytes = try signed(bob, counter: 1, conversation: otherRoom)
        #expect(gossip.receive(bytes, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.wrongConversation))
        #expect(gossip.counters.dropped == ["wrong_conversation": 1])
        #expect(gossip.conversation == room)
    }

    @Test func malformedBytesAreDropped() throws {
        var gossip = try gossip()
        let valid = try signed(bob, counter: 1)
        let inputs: [[UInt8]] = [[], [0x53, 0x43], Array(valid.dropLast()), valid + [0], Array(repeating: 0xFF, count: 2_000)]
        for bytes in inputs {
            guard case .dropped(.malformed) = gossip.receive(bytes, from: peerOne, isMember: isMember, now: Self.now) else {
                Issue.record("\(bytes.count) bytes should be malformed")
                continue
            }
        }
        #expect(gossip.counters.dropped == ["malformed": inputs.count])
    }

    @Test func updatesOutsideTheTimeWindowAreDropped() throws {
        var gossip = try gossip()
        let policy = EphemeralPolicy.default
        let old = try signed(bob, counter: 1, sentAt: Self.t0 - policy.maxAge - 1)
        let future = try signed(bob, counter: 2, sentAt: Self.t0 + policy.maxFutureSkew + 1)
        #expect(gossip.receive(old, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.outsideTimeWindow))
        #expect(gossip.receive(future, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.outsideTimeWindow))
        #expect(gossip.counters.dropped == ["outside_time_window": 2])
    }

    @Test func floodsFromPeersAreRateLimitedButOwnUpdatesAreNot() throws {
        var gossip = try gossip()
        let policy = EphemeralPolicy.default
        let burst = Int(policy.cursorMaxPerSecond * policy.receiveBurstSeconds)
        func cursor(_ key: SigningKey, _ counter: UInt64) throws -> [UInt8] {
            try signed(key, counter: counter, payload: .cursor(Cursor(scrollTop: UInt32(counter), scrollHeight: 1, viewportHeight: 1)))
        }
        for counter in 1 ... UInt64(burst) {
            guard case .fresh = gossip.receive(try cursor(alice, counter), from: peerOne, isMember: isMember, now: Self.now) else {
                Issue.record("update \(counter) is within the burst")
                return
            }
        }
        let over = try cursor(alice, UInt64(burst) + 1)
        #expect(gossip.receive(over, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.rateLimited))
        // Not applied, so it is fresh once the bucket refills (one cursor token per 1/5 s).
        #expect(gossip.receive(over, from: peerTwo, isMember: isMember, now: Self.now + .milliseconds(200)) == .fresh(try SignedEphemeral(decoding: over)))
        // This node's own updates (from: nil) are restrained by its throttle, not here.
        for counter in 1 ... UInt64(burst + 5) {
            guard case .fresh = gossip.receive(try cursor(bob, counter), from: nil, isMember: isMember, now: Self.now) else {
                Issue.record("own update \(counter) is not rate-limited")
                return
            }
        }
        #expect(gossip.counters.dropped == ["rate_limited": 1])
        #expect(gossip.counters.fresh == burst + 1 + burst + 5)
    }

    @Test func ownUpdatesEchoedBackAreDuplicates() throws {
        var gossip = try gossip()
        let own = try signed(bob, counter: 7, payload: .heartbeat)
        #expect(gossip.receive(own, from: nil, isMember: isMember, now: Self.now) == .fresh(try SignedEphemeral(decoding: own)))
        #expect(gossip.receive(own, from: peerOne, isMember: isMember, now: Self.now) == .dropped(.staleOrDuplicate))
    }

    @Test func removedOriginIsForgotten() throws {
        var gossip = try gossip()
        let bytes = try signed(alice, counter: 3)
        #expect(gossip.receive(bytes, from: peerOne, isMember: isMember, now: Self.now) == .fresh(try SignedEphemeral(decoding: bytes)))
        gossip.remove(origin: alice.publicKey.replicaID)
        #expect(gossip.registers.knownOrigins.isEmpty)
    }

    @Test func dropCodesAreStable() {
        let drops: [EphemeralGossipDrop] = [.malformed(.badMagic), .badSignature, .wrongConversation, .notMember,
                                            .staleOrDuplicate, .outsideTimeWindow, .rateLimited]
        #expect(drops.map(\.code) == ["malformed", "bad_signature", "wrong_conversation", "not_member",
                                      "stale_or_duplicate", "outside_time_window", "rate_limited"])
    }
}
