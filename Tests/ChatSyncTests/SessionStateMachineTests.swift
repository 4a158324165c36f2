import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Testing

private let roomA = ConversationID(bytes: Array(repeating: 0xA1, count: 32))!
private let roomB = ConversationID(bytes: Array(repeating: 0xB2, count: 32))!
private let validToken: [UInt8] = Array(repeating: 0x7E, count: 48)

private func key(_ seed: UInt8) -> SigningKey {
    try! SigningKey(seed: Array(repeating: seed, count: 32)) // SAFETY: valid fixed seed
}

/// Members of `roomA` and `roomB` are admitted to the rooms they ask for; a non-member with `validToken`
/// too; anyone else is refused.
private func policy(members: Set<ReplicaID>) -> AdmissionPolicy {
    { request in
        let known = request.conversations.filter { $0 == roomA || $0 == roomB }
        if members.contains(request.peer.replicaID) { return .admit(conversations: known) }
        if let lookup = request.codeLookup { return lookup == knownCodeLookup ? .resolved(sealedTokens: [[7, 7, 7], [8]]) : .refuse(.invalidInvite) }
        guard let token = request.inviteToken else { return .refuse(.notAMember) }
        return token == validToken ? .admit(conversations: known) : .refuse(.invalidInvite)
    }
}

private let knownCodeLookup = Array(repeating: UInt8(0x42), count: 32)

private let alice = key(1)
private let bob = key(2)
private let mallory = key(3)

/// Two state machines wired back to back; every `send` is delivered to the other side unless a filter
/// changes or drops it.
private struct Link {
    var dialer: SessionStateMachine
    var listener: SessionStateMachine
    var dialerActions: [SessionAction] = []
    var listenerActions: [SessionAction] = []
    /// Bytes in flight: true when headed to the listener.
    var inFlight: [(toListener: Bool, bytes: [UInt8])] = []
    /// Applied to each frame in flight before delivery (return nil to drop it).
    var tamper: (_ toListener: Bool, _ bytes: [UInt8]) -> [UInt8]? = { _, bytes in bytes }

    init(dialerKey: SigningKey = alice, listenerKey: SigningKey = bob,
         dialerConfiguration: SessionConfiguration = SessionConfiguration(conversations: [roomA, roomB]),
         listenerConfiguration: SessionConfiguration = SessionConfiguration(conversations: [roomA, roomB]),
         listenerMembers: Set<ReplicaID>? = nil, seed: UInt64 = 1) {
        var random = SeededGenerator(seed: seed)
        let members = listenerMembers ?? [alice.publicKey.replicaID, bob.publicKey.replicaID]
        dialer = SessionStateMachine(
            role: .dialer, identity: dialerKey, configuration: dialerConfiguration,
            admission: policy(members: [alice.publicKey.replicaID, bob.publicKey.replicaID]), randomness: &random)
        listener = SessionStateMachine(
            role: .listener, identity: listenerKey, configuration: listenerConfiguration,
            admission: policy(members: members), randomness: &random)
    }

    mutating func start(now: Duration = .zero) {
        record(listener.start(now: now), fromListener: true)
        record(dialer.start(now: now), fromListener: false)
        pump(now: now)
    }

    mutating func record(_ actions: [SessionAction], fromListener: Bool) {
        if fromListener { listenerActions += actions } else { dialerActions += actions }
        for case .send(let bytes) in actions { inFlight.append((!fromListener, bytes)) }
    }

    mutating func pump(now: Duration) {
        while !inFlight.isEmpty {
            let (toListener, bytes) = inFlight.removeFirst()
            guard let delivered = tamper(toListener, bytes) else { continue }
            if toListener {
                record(listener.receive(delivered, now: now), fromListener: true)
            } else {
                record(dialer.receive(delivered, now: now), fromListener: false)
            }
        }
    }
}

private func closeReason(_ actions: [SessionAction]) -> SessionCloseReason? {
    for case .close(let reason) in actions { return reason }
    return nil
}

private func peers(_ actions: [SessionAction]) -> [SessionPeer] {
    actions.compactMap { if case .authenticated(let peer) = $0 { peer } else { nil } }
}

private func delivered(_ actions: [SessionAction]) -> [DataFrame] {
    actions.compactMap { if case .deliver(let frame) = $0 { frame } else { nil } }
}

private func backedOff(_ actions: [SessionAction]) -> Bool {
    actions.contains { if case .backOff = $0 { true } else { false } }
}

/// The frame types of the frames a side sent (outer headers only).
private func sentTypes(_ actions: [SessionAction]) -> [UInt8] {
    actions.compactMap { if case .send(let bytes) = $0 { bytes[3] } else { nil } }
}

private var sampleClock: DataFrame {
    var clock = VectorClock()
    clock[alice.publicKey.replicaID] = 12
    clock[bob.publicKey.replicaID] = 5
    return .clock(conversation: roomA, clock: clock)
}

/// A listening bob for roomA and roomB that admits alice and bob, started at time zero.
private func startedListener(seed: UInt64 = 4) -> SessionStateMachine {
    var random = SeededGenerator(seed: seed)
    var listener = SessionStateMachine(
        role: .listener, identity: bob, configuration: SessionConfiguration(conversations: [roomA, roomB]),
        admission: policy(members: [alice.publicKey.replicaID, bob.publicKey.replicaID]), randomness: &random)
    _ = listener.start(now: .zero)
    return listener
}

/// Whether some `width`-byte run of `secret` occurs in `haystack`.
private func containsAnyWindow(of secret: [UInt8], width: Int, in haystack: [UInt8]) -> Bool {
    let windows = Set((0 ... secret.count - width).map { Array(secret[$0 ..< $0 + width]) })
    guard haystack.count >= width else { return false }
    return (0 ... haystack.count - width).contains { windows.contains(Array(haystack[$0 ..< $0 + width])) }
}

/// A dialer built from the raw primitives, which signs whatever it is told: it claims any key and
/// sends any request frames, properly sealed.
private struct HostileDialer {
    let ephemeral: SessionKeyPair
    let hello: [UInt8]

    init(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        ephemeral = SessionKeyPair(using: &random)
        hello = SessionFrame.hello(SessionHello(versions: SessionConfiguration.currentVersions,
                                                ephemeralKey: ephemeral.publicKey,
                                                nonce: Array(repeating: UInt8(truncatingIfNeeded: seed), count: 32))).encoded()
    }

    /// Stream header, sealed identity (`identity`, with the signature `sign` makes over the dialer's
    /// transcript message) and sealed `requests`, answering the listener's `reply` actions.
    func identify(after reply: [SessionAction], as identity: ReplicaID,
                  requests: [SessionRequest] = [SessionRequest(conversations: [roomA])],
                  sign: ([UInt8]) -> [UInt8]) throws -> [UInt8] {
        guard case .send(let replyBytes) = reply.first else { throw SessionUsageError.notEstablished }
        let length = replyBytes[4 ..< 8].reduce(0) { $0 << 8 | Int($1) }
        let helloReply = Array(replyBytes.prefix(FrameHeader.byteCount + length))
        guard case .helloReply(let decoded) = try SessionFrame(decoding: helloReply) else {
            throw SessionUsageError.notEstablished
        }
        let keys = try SessionKeys(role: .client, own: ephemeral, peerPublicKey: decoded.ephemeralKey)
        let sealer = keys.makeSealer()
        let message = SessionTranscript.authMessage(role: .dialer, hello: hello, helloReply: helloReply,
                                                    streamHeader: sealer.header)
        var bytes = SessionFrame.streamHeader(sealer.header).encoded()
        let frames = [SessionFrame.identify(SessionIdentity(identity: identity, signature: sign(message)))]
            + requests.map { SessionFrame.request($0) }
        for frame in frames { bytes += SessionFrame.sealed(try sealer.seal(frame.encoded())).encoded() }
        return bytes
    }
}

@Suite struct SessionStateMachineTests {
    @Test func handshakeAuthenticatesBothSidesAndSealsData() throws {
        var link = Link(
            dialerConfiguration: SessionConfiguration(versions: [1, 2], conversations: [roomA, roomB]),
            listenerConfiguration: SessionConfiguration(versions: [1, 2, 3], conversations: [roomA]))
        link.start()
        let atListener = peers(link.listenerActions)
        let atDialer = peers(link.dialerActions)
        // Only the conversation both asked for is agreed, on both ends.
        #expect(atListener == [SessionPeer(key: alice.publicKey, version: 2, conversations: [roomA])])
        #expect(atDialer == [SessionPeer(key: bob.publicKey, version: 2, conversations: [roomA])])
        #expect(link.dialer.peer != nil && link.listener.peer != nil)
        #expect(closeReason(link.dialerActions + link.listenerActions) == nil)
        #expect(link.listenerActions.contains(.scheduleTimer(after: .seconds(15), .keepalive)))

        let batch = DataFrame.batches(conversation: roomA, batches: [[1, 2, 3], Array(repeating: 9, count: 300)])
        #expect(throws: SessionUsageError.conversationNotAdmitted(roomB)) {
            try link.dialer.send(.clock(conversation: roomB, clock: VectorClock()))
        }
        link.record(try link.dialer.send(sampleClock), fromListener: false)
        link.record(try link.listener.send(batch), fromListener: true)
        // Nothing in flight is readable: every frame after the handshake is sealed.
        #expect(link.inFlight.allSatisfy { $0.bytes[3] == SessionFrame.FrameType.sealed.rawValue })
        #expect(link.inFlight.allSatisfy { flight in
            !flight.bytes.indices.dropLast(2).contains { flight.bytes[$0 ..< $0 + 3] == [9, 9, 9] }
        })
        link.pump(now: .seconds(1))
        #expect(delivered(link.listenerActions) == [sampleClock])
        #expect(delivered(link.dialerActions) == [batch])
    }

    @Test func handshakeIsDeterministicForFixedSeeds() {
        var first = Link(seed: 99)
        var second = Link(seed: 99)
        first.start()
        second.start()
        // The hellos and the hello reply are byte-identical; only libsodium's stream headers are random.
        guard case .send(let helloA) = first.dialerActions[0], case .send(let helloB) = second.dialerActions[0] else {
            Issue.record("dialer did not send a hello first")
            return
        }
        #expect(helloA == helloB)
        #expect(peers(first.dialerActions) == peers(second.dialerActions))
    }

    @Test func bytesMayArriveInAnySplit() throws {
        var link = Link()
        link.tamper = { _, bytes in bytes }
        link.record(link.listener.start(now: .zero), fromListener: true)
        link.record(link.dialer.start(now: .zero), fromListener: false)
        // Deliver byte by byte.
        while !link.inFlight.isEmpty {
            let (toListener, bytes) = link.inFlight.removeFirst()
            for byte in bytes {
                if toListener {
                    link.record(link.listener.receive([byte], now: .zero), fromListener: true)
                } else {
                    link.record(link.dialer.receive([byte], now: .zero), fromListener: false)
                }
            }
        }
        #expect(link.dialer.peer?.key == bob.publicKey)
        #expect(link.listener.peer?.key == alice.publicKey)
    }

    @Test func noCommonVersionIsRefused() {
        var link = Link(
            dialerConfiguration: SessionConfiguration(versions: [2, 3], conversations: [roomA]),
            listenerConfiguration: SessionConfiguration(versions: [1], conversations: [roomA]))
        link.start()
        #expect(closeReason(link.listenerActions) == .refused(.unsupportedVersion))
        #expect(closeReason(link.dialerActions) == .refusedByPeer(.unsupportedVersion))
        #expect(peers(link.dialerActions + link.listenerActions).isEmpty)
        #expect(link.listener.isClosed && link.dialer.isClosed)
    }

    @Test func nonMemberWithoutTokenIsRefusedBeforeAnyData() {
        var link = Link(dialerKey: mallory)
        link.start()
        #expect(closeReason(link.listenerActions) == .refused(.notAMember))
        #expect(closeReason(link.dialerActions) == .refusedByPeer(.notAMember))
        #expect(peers(link.listenerActions).isEmpty && peers(link.dialerActions).isEmpty)
        // The listener sent its hello reply (with its sealed identity), then a sealed refusal: no welcome,
        // and an observer cannot tell a refusal from a welcome.
        #expect(sentTypes(link.listenerActions) == [SessionFrame.FrameType.helloReply.rawValue, SessionFrame.FrameType.sealed.rawValue])
        #expect(throws: SessionUsageError.notEstablished) { try link.listener.send(sampleClock) }
    }

    /// Issue 19: a stranger asking only to resolve a short code gets the link's sealed token and
    /// the session ends (no conversation, no data); an unknown code is refused as `invalid_invite`.
    @Test func aCodeLookupIsAnsweredWithTheSealedTokenAndTheSessionEnds() {
        var configuration = SessionConfiguration(conversations: [])
        configuration.codeLookup = knownCodeLookup
        var link = Link(dialerKey: mallory, dialerConfiguration: configuration)
        link.start()
        #expect(link.dialerActions.contains(.codeResolved([[7, 7, 7], [8]])))
        #expect(peers(link.listenerActions).isEmpty && peers(link.dialerActions).isEmpty)
        #expect(closeReason(link.listenerActions) == .closedLocally(.goingAway))
        #expect(closeReason(link.dialerActions) == .refusedByPeer(.goingAway))

        configuration.codeLookup = Array(repeating: 0x43, count: 32)
        var unknown = Link(dialerKey: mallory, dialerConfiguration: configuration)
        unknown.start()
        #expect(!unknown.dialerActions.contains { if case .codeResolved = $0 { true } else { false } })
        #expect(closeReason(unknown.dialerActions) == .refusedByPeer(.invalidInvite))
    }

    @Test func nonMemberWithABadTokenIsRefused() {
        var link = Link(dialerKey: mallory, dialerConfiguration: SessionConfiguration(
            conversations: [roomA], inviteToken: Array(repeating: 1, count: 48)))
        link.start()
        #expect(closeReason(link.listenerActions) == .refused(.invalidInvite))
    }

    @Test func nonMemberWithAnAcceptedTokenJoins() {
        var link = Link(dialerKey: mallory, dialerConfiguration: SessionConfiguration(
            conversations: [roomA], inviteToken: validToken))
        link.start()
        #expect(peers(link.listenerActions).map(\.key) == [mallory.publicKey])
        #expect(peers(link.dialerActions).map(\.conversations) == [[roomA]])
    }

    @Test func sendingOutsideTheAdmittedConversationsIsRefusedLocally() throws {
        var link = Link(dialerConfiguration: SessionConfiguration(conversations: [roomA]))
        link.start()
        #expect(throws: SessionUsageError.conversationNotAdmitted(roomB)) {
            try link.listener.send(.clock(conversation: roomB, clock: VectorClock()))
        }
    }

    @Test func tamperedIdentityFrameIsRefused() {
        var link = Link()
        link.tamper = { toListener, bytes in
            guard !toListener, bytes[3] == SessionFrame.FrameType.helloReply.rawValue else { return bytes }
            // The listener's sealed identity follows its hello reply in the same write: flip a byte of it.
            var changed = bytes
            changed[changed.count - 30] ^= 0x01
            return changed
        }
        link.start()
        #expect(closeReason(link.dialerActions) == .decryptionFailed(.authenticationFailed))
        #expect(backedOff(link.dialerActions))
        #expect(peers(link.dialerActions + link.listenerActions).isEmpty)
    }

    @Test func alteredTranscriptIsRefused() {
        // A man in the middle changes the listener's nonce: the keys still agree, but the listener's
        // signature no longer covers what the dialer saw.
        var link = Link()
        link.tamper = { toListener, bytes in
            guard !toListener, bytes[3] == SessionFrame.FrameType.helloReply.rawValue else { return bytes }
            var changed = bytes
            changed[FrameHeader.byteCount + 1 + 32] ^= 0xFF // first nonce byte of the reply
            return changed
        }
        link.start()
        #expect(closeReason(link.dialerActions) == .refused(.authenticationFailed))
        #expect(closeReason(link.listenerActions) == .refusedByPeer(.authenticationFailed))
    }

    @Test func aDialerClaimingAKeyItCannotSignForIsRefused() throws {
        let hostile = HostileDialer(seed: 5)
        var listener = startedListener()
        let reply = listener.receive(hostile.hello, now: .zero)
        let bytes = try hostile.identify(after: reply, as: alice.publicKey.replicaID) { mallory.sign($0).bytes }
        let actions = listener.receive(bytes, now: .zero)
        #expect(closeReason(actions) == .refused(.authenticationFailed))
        #expect(peers(actions).isEmpty)
    }

    @Test func aSignatureFromAnotherSessionIsRefused() throws {
        // Alice's valid proof for one session (say, stolen from her machine's memory) opens no other.
        let first = HostileDialer(seed: 6)
        var firstListener = startedListener()
        let firstReply = firstListener.receive(first.hello, now: .zero)
        var stolen: [UInt8] = []
        _ = try first.identify(after: firstReply, as: alice.publicKey.replicaID) { message in
            stolen = alice.sign(message).bytes
            return stolen
        }
        let second = HostileDialer(seed: 7)
        var listener = startedListener(seed: 8)
        let reply = listener.receive(second.hello, now: .zero)
        let actions = listener.receive(try second.identify(after: reply, as: alice.publicKey.replicaID) { _ in stolen },
                                       now: .zero)
        #expect(closeReason(actions) == .refused(.authenticationFailed))
    }

    /// The capture of a whole handshake (a joiner with an invite token asking for two conversations)
    /// contains no conversation id, no token and neither long-term key: only versions, ephemeral keys,
    /// nonces, stream headers and ciphertext.
    @Test func aHandshakeCaptureRevealsNoConversationTokenOrIdentity() throws {
        var link = Link(dialerKey: mallory, dialerConfiguration: SessionConfiguration(
            conversations: [roomA, roomB], inviteToken: validToken))
        var capture: [UInt8] = []
        link.tamper = { _, bytes in
            capture += bytes
            return bytes
        }
        link.start()
        #expect(peers(link.listenerActions).map(\.conversations) == [[roomA, roomB]])
        #expect(peers(link.listenerActions).map(\.inviteToken) == [validToken])
        let secrets = [roomA.bytes, roomB.bytes, validToken, alice.publicKey.replicaID.bytes,
                       bob.publicKey.replicaID.bytes, mallory.publicKey.replicaID.bytes]
        for secret in secrets {
            #expect(!containsAnyWindow(of: secret, width: 6, in: capture))
        }
        // The only plain frame types are the hello, the reply, the dialer's stream header and sealed frames.
        var offset = 0
        var types: Set<UInt8> = []
        while offset + FrameHeader.byteCount <= capture.count {
            let header = try FrameHeader(decoding: capture[offset ..< offset + FrameHeader.byteCount])
            types.insert(header.type)
            offset += FrameHeader.byteCount + header.length
        }
        #expect(offset == capture.count)
        #expect(types == [16, 17, 18, 22])
    }

    /// A node in thousands of conversations completes a handshake: the request travels in bounded chunks.
    @Test func thousandsOfConversationsFitInOneHandshake() {
        let rooms = (0 ..< 3_000).map { index in
            ConversationID(bytes: withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) } + Array(repeating: 0x5C, count: 28))!
        }
        var random = SeededGenerator(seed: 11)
        let everything: AdmissionPolicy = { .admit(conversations: $0.conversations) }
        var dialer = SessionStateMachine(role: .dialer, identity: alice, configuration: SessionConfiguration(conversations: rooms),
                                         admission: everything, randomness: &random)
        var listener = SessionStateMachine(role: .listener, identity: bob,
                                           configuration: SessionConfiguration(conversations: Array(rooms.prefix(2_000))),
                                           admission: everything, randomness: &random)
        _ = listener.start(now: .zero)
        var toListener = dialer.start(now: .zero)
        var largestWrite = 0
        for _ in 0 ..< 4 {
            var toDialer: [SessionAction] = []
            for case .send(let bytes) in toListener {
                largestWrite = max(largestWrite, bytes.count)
                toDialer += listener.receive(bytes, now: .zero)
            }
            toListener = []
            for case .send(let bytes) in toDialer { toListener += dialer.receive(bytes, now: .zero) }
        }
        #expect(dialer.peer?.conversations.count == 2_000)
        #expect(listener.peer?.conversations == Array(rooms.prefix(2_000)))
        #expect(largestWrite > 64 << 10) // one write of several request frames, each under the handshake limit
    }

    /// The dialer asks a listener only for what its own policy lets that listener see.
    @Test func theDialerAsksOnlyForWhatItsPolicyAllows() {
        var random = SeededGenerator(seed: 12)
        let onlyA: AdmissionPolicy = { request in .admit(conversations: request.conversations.filter { $0 == roomA }) }
        let everything: AdmissionPolicy = { .admit(conversations: $0.conversations) }
        var dialer = SessionStateMachine(role: .dialer, identity: alice,
                                         configuration: SessionConfiguration(conversations: [roomA, roomB]),
                                         admission: onlyA, randomness: &random)
        var listener = SessionStateMachine(role: .listener, identity: bob,
                                           configuration: SessionConfiguration(conversations: [roomA, roomB]),
                                           admission: everything, randomness: &random)
        _ = listener.start(now: .zero)
        var toListener = dialer.start(now: .zero)
        for _ in 0 ..< 3 {
            var toDialer: [SessionAction] = []
            for case .send(let bytes) in toListener { toDialer += listener.receive(bytes, now: .zero) }
            toListener = []
            for case .send(let bytes) in toDialer { toListener += dialer.receive(bytes, now: .zero) }
        }
        #expect(listener.peer?.conversations == [roomA])
        #expect(dialer.peer?.conversations == [roomA])
    }

    @Test func selfConnectionIsRefused() {
        var link = Link(dialerKey: bob, listenerKey: bob)
        link.start()
        // The dialer learns first, from the listener's sealed identity, and never reveals its own.
        #expect(closeReason(link.dialerActions) == .refused(.selfConnection))
        #expect(closeReason(link.listenerActions) == .refusedByPeer(.selfConnection))
    }

    @Test func requestFramesMustAscendAndCarryTheTokenFirst() throws {
        let cases: [(String, [SessionRequest])] = [
            ("descending", [SessionRequest(conversations: [roomB], hasMore: true), SessionRequest(conversations: [roomA])]),
            ("late token", [SessionRequest(conversations: [roomA], hasMore: true),
                            SessionRequest(conversations: [roomB], inviteToken: validToken)]),
        ]
        for (label, requests) in cases {
            let hostile = HostileDialer(seed: 9)
            var listener = startedListener()
            let reply = listener.receive(hostile.hello, now: .zero)
            let bytes = try hostile.identify(after: reply, as: alice.publicKey.replicaID, requests: requests) {
                alice.sign($0).bytes
            }
            let reason = closeReason(listener.receive(bytes, now: .zero))
            #expect(reason?.code == "protocol_violation", "\(label)")
        }
    }

    @Test func tamperedSealedFrameClosesTheSession() throws {
        var link = Link()
        link.start()
        link.tamper = { _, bytes in
            var changed = bytes
            changed[changed.count - 1] ^= 0x01
            return changed
        }
        link.record(try link.dialer.send(sampleClock), fromListener: false)
        link.pump(now: .seconds(1))
        #expect(closeReason(link.listenerActions) == .decryptionFailed(.authenticationFailed))
        #expect(backedOff(link.listenerActions))
        #expect(delivered(link.listenerActions).isEmpty)
    }

    @Test func replayedSealedFrameClosesTheSession() throws {
        var link = Link()
        link.start()
        guard case .send(let bytes) = try link.dialer.send(sampleClock).first else {
            Issue.record("expected a send")
            return
        }
        #expect(delivered(link.listener.receive(bytes, now: .seconds(1))) == [sampleClock])
        let replayed = link.listener.receive(bytes, now: .seconds(1))
        #expect(closeReason(replayed) == .decryptionFailed(.authenticationFailed))
        #expect(delivered(replayed).isEmpty)
    }

    @Test func reorderedSealedFramesCloseTheSession() throws {
        var link = Link()
        link.start()
        _ = try link.dialer.send(sampleClock) // sealed, never delivered
        guard case .send(let second) = try link.dialer.send(sampleClock).first else {
            Issue.record("expected a send")
            return
        }
        #expect(closeReason(link.listener.receive(second, now: .seconds(1))) == .decryptionFailed(.authenticationFailed))
    }

    @Test func truncatedSealedFrameIsRefused() throws {
        var link = Link()
        link.start()
        guard case .send(let bytes) = try link.dialer.send(sampleClock).first else {
            Issue.record("expected a send")
            return
        }
        // Cut the ciphertext but keep the header consistent: the cipher rejects it.
        var cut = Array(bytes.dropLast(5))
        let length = cut.count - FrameHeader.byteCount
        cut.replaceSubrange(4 ..< 8, with: FrameHeader(type: 22, length: length).bytes[4 ..< 8])
        #expect(closeReason(link.listener.receive(cut, now: .seconds(1))) == .decryptionFailed(.authenticationFailed))
    }

    @Test func unsealedDataAfterTheHandshakeIsAViolation() {
        var link = Link()
        link.start()
        let actions = link.listener.receive(sampleClock.encoded(), now: .seconds(1))
        #expect(closeReason(actions) == .protocolViolation("frame type 2 outside a sealed frame"))
        #expect(delivered(actions).isEmpty)
        #expect(backedOff(actions))
    }

    @Test func dataBeforeTheHandshakeIsRefused() {
        var random = SeededGenerator(seed: 3)
        var listener = SessionStateMachine(
            role: .listener, identity: bob, configuration: SessionConfiguration(conversations: [roomA]),
            admission: policy(members: []), randomness: &random)
        _ = listener.start(now: .zero)
        let actions = listener.receive(SessionFrame.ping(nonce: 1, isReply: false).encoded(), now: .zero)
        #expect(closeReason(actions) == .protocolViolation("expected hello"))
        #expect(sentTypes(actions) == [SessionFrame.FrameType.refuse.rawValue])
    }

    @Test func garbageIsMalformedAndBackedOff() {
        var random = SeededGenerator(seed: 3)
        let configuration = SessionConfiguration(conversations: [roomA], backOff: .seconds(60))
        var listener = SessionStateMachine(
            role: .listener, identity: bob, configuration: configuration, admission: policy(members: []),
            randomness: &random)
        _ = listener.start(now: .zero)
        let actions = listener.receive(Array("GET / HTTP/1.1\r\n".utf8), now: .zero)
        #expect(closeReason(actions) == .malformed(.badMagic))
        #expect(actions.contains(.backOff(.seconds(60))))
        #expect(listener.isClosed)
        #expect(listener.receive([1, 2, 3], now: .zero).isEmpty)
    }

    @Test func oversizedHandshakeFrameIsRefusedBeforeItsBody() {
        var random = SeededGenerator(seed: 3)
        var listener = SessionStateMachine(
            role: .listener, identity: bob, configuration: SessionConfiguration(conversations: [roomA]),
            admission: policy(members: []), randomness: &random)
        _ = listener.start(now: .zero)
        let header = FrameHeader(type: SessionFrame.FrameType.hello.rawValue, length: 1 << 20).bytes
        let actions = listener.receive(header, now: .zero)
        #expect(closeReason(actions) == .malformed(.tooLarge(field: "frame", size: 1 << 20, limit: 64 << 10)))
    }

    @Test func floodClosesWithBackOff() throws {
        let budget = IngressBudget(window: .seconds(1), maxFrames: 10, maxBytes: 1 << 20)
        var link = Link(listenerConfiguration: SessionConfiguration(conversations: [roomA, roomB], budget: budget))
        link.start()
        var actions: [SessionAction] = []
        for _ in 0 ..< 20 {
            for case .send(let bytes) in try link.dialer.send(sampleClock) {
                actions += link.listener.receive(bytes, now: .seconds(10))
            }
            if link.listener.isClosed { break }
        }
        #expect(delivered(actions).count == 10)
        #expect(closeReason(actions) == .flood)
        #expect(backedOff(actions))
        // The refusal is sealed: the session was established.
        #expect(sentTypes(actions).last == SessionFrame.FrameType.sealed.rawValue)
    }

    @Test func budgetsResetEachWindow() throws {
        let budget = IngressBudget(window: .seconds(1), maxFrames: 10, maxBytes: 1 << 20)
        var link = Link(listenerConfiguration: SessionConfiguration(conversations: [roomA, roomB], budget: budget))
        link.start()
        for second in 1 ... 20 {
            for case .send(let bytes) in try link.dialer.send(sampleClock) {
                #expect(closeReason(link.listener.receive(bytes, now: .seconds(second))) == nil)
            }
        }
        #expect(!link.listener.isClosed)
    }

    @Test func byteBudgetStopsAFlood() {
        let budget = IngressBudget(window: .seconds(1), maxFrames: 1000, maxBytes: 100)
        var random = SeededGenerator(seed: 3)
        var listener = SessionStateMachine(
            role: .listener, identity: bob, configuration: SessionConfiguration(conversations: [roomA], budget: budget),
            admission: policy(members: []), randomness: &random)
        _ = listener.start(now: .zero)
        // A slow trickle of a hello header that never completes still counts its bytes.
        let actions = listener.receive(Array(repeating: 0x53, count: 101), now: .zero)
        #expect(closeReason(actions) == .flood)
    }

    @Test func handshakeTimeoutClosesOnlyUnfinishedSessions() {
        var stalled = Link()
        stalled.tamper = { _, _ in nil }
        stalled.start()
        #expect(stalled.dialerActions.contains(.scheduleTimer(after: .seconds(10), .handshakeTimeout)))
        #expect(closeReason(stalled.dialer.timerFired(.handshakeTimeout, now: .seconds(10))) == .handshakeTimeout)

        var finished = Link()
        finished.start()
        #expect(finished.dialer.timerFired(.handshakeTimeout, now: .seconds(10)).isEmpty)
    }

    @Test func keepalivePingsAndIdlePeersTimeOut() {
        var link = Link()
        link.start()
        let tick = link.dialer.timerFired(.keepalive, now: .seconds(15))
        #expect(tick.contains(.scheduleTimer(after: .seconds(15), .keepalive)))
        link.record(tick, fromListener: false)
        link.pump(now: .seconds(15))
        // The listener answered the ping with a sealed pong; nobody closed.
        #expect(sentTypes(link.listenerActions).last == SessionFrame.FrameType.sealed.rawValue)
        #expect(closeReason(link.dialerActions + link.listenerActions) == nil)
        #expect(closeReason(link.listener.timerFired(.keepalive, now: .seconds(59))) == nil)
        #expect(closeReason(link.listener.timerFired(.keepalive, now: .seconds(61))) == .idleTimeout)
    }

    @Test func localCloseTellsThePeer() {
        var link = Link()
        link.start()
        link.record(link.listener.close(.revoked), fromListener: true)
        link.pump(now: .seconds(1))
        #expect(closeReason(link.listenerActions) == .closedLocally(.revoked))
        #expect(closeReason(link.dialerActions) == .refusedByPeer(.revoked))
        #expect(!backedOff(link.dialerActions))
    }
}
