import ChatCore
import ChatWire
import Testing

private let conversationA = ConversationID(bytes: Array(repeating: 0x0A, count: 32))!
private let conversationB = ConversationID(bytes: Array(repeating: 0x0B, count: 32))!

private let sampleHello = SessionHello(
    versions: [2, 1], identity: ReplicaID(testValue: 7), ephemeralKey: Array(repeating: 3, count: 32),
    nonce: Array(0 ..< 32), inviteToken: [1, 2, 3, 4], conversations: [conversationB, conversationA])

private let sampleFrames: [SessionFrame] = [
    .hello(sampleHello),
    .hello(SessionHello(versions: [1], identity: ReplicaID(testValue: 1), ephemeralKey: Array(repeating: 9, count: 32),
                        nonce: Array(repeating: 0, count: 32), conversations: [])),
    .helloReply(SessionHelloReply(selectedVersion: 2, hello: sampleHello)),
    .auth(SessionAuth(signature: Array(repeating: 0x55, count: 64), streamHeader: Array(repeating: 0x66, count: 24))),
    .refuse(.notAMember),
    .refuse(RefuseCode(rawValue: 200)),
    .ping(nonce: 0x0102_0304_0506_0708, isReply: true),
    .welcome(conversations: [conversationA, conversationB]),
    .sealed(Array(repeating: 0x77, count: 40)),
]

@Suite struct SessionFramesTests {
    @Test(arguments: sampleFrames)
    func roundTrips(_ frame: SessionFrame) throws {
        let bytes = frame.encoded()
        let decoded = try SessionFrame(decoding: bytes)
        #expect(decoded == frame)
        #expect(decoded.encoded() == bytes)
        #expect(bytes[3] == frame.frameType.rawValue)
    }

    @Test func helloIsCanonicalWhateverTheInputOrder() {
        #expect(sampleHello.versions == [1, 2])
        #expect(sampleHello.conversations == [conversationA, conversationB])
        let shuffled = SessionHello(
            versions: [1, 2, 2], identity: sampleHello.identity, ephemeralKey: sampleHello.ephemeralKey,
            nonce: sampleHello.nonce, inviteToken: sampleHello.inviteToken, conversations: [conversationA, conversationB])
        #expect(SessionFrame.hello(shuffled).encoded() == SessionFrame.hello(sampleHello).encoded())
    }

    @Test(arguments: sampleFrames)
    func everyTruncationIsATypedError(_ frame: SessionFrame) {
        let bytes = frame.encoded()
        for length in 0 ..< bytes.count {
            #expect(throws: WireError.self) { try SessionFrame(decoding: Array(bytes.prefix(length))) }
            let body = Array(bytes.dropFirst(FrameHeader.byteCount).prefix(max(0, length - FrameHeader.byteCount)))
            if case .sealed = frame, body.count >= 17 { continue } // a sealed body is opaque: the cipher catches it
            if body.count < bytes.count - FrameHeader.byteCount {
                #expect(throws: WireError.self) { try SessionFrame(type: bytes[3], body: body) }
            }
        }
    }

    @Test func trailingBytesAreRefused() {
        var bytes = SessionFrame.refuse(.flood).encoded()
        bytes.append(0)
        #expect(throws: WireError.self) { try SessionFrame(decoding: bytes) }
        #expect(throws: WireError.trailingBytes(1)) { try SessionFrame(type: 19, body: [8, 0]) }
    }

    @Test func nonCanonicalAndOutOfRangeHellosAreRefused() {
        func body(_ frame: SessionFrame) -> [UInt8] { Array(frame.encoded().dropFirst(FrameHeader.byteCount)) }
        var descending = body(.hello(sampleHello))
        descending.swapAt(1, 2) // versions 1, 2 → 2, 1
        #expect(throws: WireError.nonCanonical("versions not ascending")) { try SessionFrame(type: 16, body: descending) }

        var zeroVersion = body(.hello(sampleHello))
        zeroVersion[1] = 0
        #expect(throws: WireError.invalidValue("protocol version 0")) { try SessionFrame(type: 16, body: zeroVersion) }

        var noVersions = body(.hello(sampleHello))
        noVersions.removeSubrange(0 ..< 3)
        noVersions.insert(0, at: 0)
        #expect(throws: WireError.invalidValue("a hello lists at least one version")) {
            try SessionFrame(type: 16, body: noVersions)
        }

        var tooMany = body(.hello(sampleHello))
        tooMany[0] = 17
        #expect(throws: WireError.tooLarge(field: "versions", size: 17, limit: 16)) { try SessionFrame(type: 16, body: tooMany) }

        var badFlags = body(.hello(sampleHello))
        badFlags[3 + 96] = 2
        #expect(throws: WireError.nonCanonical("unknown hello flags")) { try SessionFrame(type: 16, body: badFlags) }

        let bigToken = SessionHello(versions: [1], identity: ReplicaID(testValue: 1), ephemeralKey: Array(repeating: 0, count: 32),
                                    nonce: Array(repeating: 0, count: 32), inviteToken: Array(repeating: 1, count: 4097),
                                    conversations: [])
        #expect(throws: WireError.tooLarge(field: "invite token", size: 4097, limit: 4096)) {
            try SessionFrame(type: 16, body: body(.hello(bigToken)))
        }

        #expect(throws: WireError.nonCanonical("ping reply flag must be 0 or 1")) {
            try SessionFrame(type: 20, body: [0, 0, 0, 0, 0, 0, 0, 1, 2])
        }
        #expect(throws: WireError.unknownKind(23)) { try SessionFrame(type: 23, body: []) }
        #expect(throws: WireError.unknownKind(1)) { try SessionFrame(type: 1, body: []) }
    }

    @Test func refuseCodesHaveStableNames() {
        #expect(RefuseCode.unsupportedVersion.code == "unsupported_version")
        #expect(RefuseCode.notAMember.rawValue == 3)
        #expect(RefuseCode(rawValue: 200).description == "unspecified(200)")
    }

    @Test func transcriptSeparatesRolesAndSessions() {
        let hello: [UInt8] = [1, 2, 3]
        let reply: [UInt8] = [4, 5]
        let header = Array(repeating: UInt8(9), count: 24)
        let dialer = SessionTranscript.authMessage(role: .dialer, hello: hello, helloReply: reply, streamHeader: header)
        let listener = SessionTranscript.authMessage(role: .listener, hello: hello, helloReply: reply, streamHeader: header)
        let swapped = SessionTranscript.authMessage(role: .dialer, hello: reply, helloReply: hello, streamHeader: header)
        let shifted = SessionTranscript.authMessage(role: .dialer, hello: [1, 2], helloReply: [3, 4, 5], streamHeader: header)
        #expect(Set([dialer, listener, swapped, shifted]).count == 4)
        #expect(dialer.starts(with: SessionTranscript.context))
    }
}
