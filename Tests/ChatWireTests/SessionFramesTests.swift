import ChatCore
import ChatWire
import Testing

private let conversationA = ConversationID(bytes: Array(repeating: 0x0A, count: 32))!
private let conversationB = ConversationID(bytes: Array(repeating: 0x0B, count: 32))!

private let sampleHello = SessionHello(versions: [2, 1, 3], ephemeralKey: Array(repeating: 3, count: 32), nonce: Array(0 ..< 32))

private let sampleRequest = SessionRequest(conversations: [conversationB, conversationA], inviteToken: [1, 2, 3, 4], hasMore: true)

private let sampleFrames: [SessionFrame] = [
    .hello(sampleHello),
    .hello(SessionHello(versions: [3], ephemeralKey: Array(repeating: 9, count: 32), nonce: Array(repeating: 0, count: 32))),
    .helloReply(SessionHelloReply(selectedVersion: 3, ephemeralKey: Array(repeating: 4, count: 32),
                                  nonce: Array(repeating: 5, count: 32))),
    .streamHeader(Array(repeating: 0x66, count: 24)),
    .identify(SessionIdentity(identity: ReplicaID(testValue: 7), signature: Array(repeating: 0x55, count: 64))),
    .request(sampleRequest),
    .request(SessionRequest(conversations: [])),
    .refuse(.notAMember),
    .refuse(RefuseCode(rawValue: 200)),
    .ping(nonce: 0x0102_0304_0506_0708, isReply: true),
    .welcome(conversations: [conversationA, conversationB]),
    .sealed(Array(repeating: 0x77, count: 40)),
    .request(SessionRequest(conversations: [], codeLookup: Array(repeating: 0x3C, count: 32))),
    .resolved(sealedTokens: [Array(0 ..< 120), [9]]),
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

    @Test func helloAndRequestAreCanonicalWhateverTheInputOrder() {
        #expect(sampleHello.versions == [1, 2, 3])
        #expect(sampleRequest.conversations == [conversationA, conversationB])
        let shuffled = SessionHello(versions: [3, 1, 2, 2], ephemeralKey: sampleHello.ephemeralKey, nonce: sampleHello.nonce)
        #expect(SessionFrame.hello(shuffled).encoded() == SessionFrame.hello(sampleHello).encoded())
    }

    /// Any number of conversations is asked for in bounded frames: ascending chunks, the token in the first.
    @Test func requestsAreChunked() throws {
        let many = (0 ..< 2_500).map { index in
            ConversationID(bytes: withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) } + Array(repeating: 0, count: 28))!
        }
        let chunks = SessionRequest.chunks(of: many.reversed(), inviteToken: [9])
        #expect(chunks.map(\.conversations.count) == [1_024, 1_024, 452])
        #expect(chunks.map(\.hasMore) == [true, true, false])
        #expect(chunks.map { $0.inviteToken != nil } == [true, false, false])
        #expect(chunks.flatMap(\.conversations) == many)
        for chunk in chunks {
            let bytes = SessionFrame.request(chunk).encoded()
            #expect(bytes.count < 40 << 10)
            #expect(try SessionFrame(decoding: bytes) == .request(chunk))
        }
        #expect(SessionRequest.chunks(of: [], inviteToken: nil) == [SessionRequest(conversations: [])])
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

        #expect(throws: WireError.nonCanonical("versions not ascending")) { try SessionHello.versions(inBody: descending) }
        #expect((try? SessionHello.versions(inBody: [1, 2, 0xFF])) == [2]) // the rest is not read

        var badFlags = body(.request(sampleRequest))
        badFlags[0] = 8
        #expect(throws: WireError.nonCanonical("unknown request flags")) { try SessionFrame(type: 24, body: badFlags) }

        let bigToken = SessionRequest(conversations: [], inviteToken: Array(repeating: 1, count: 4097))
        #expect(throws: WireError.tooLarge(field: "invite token", size: 4097, limit: 4096)) {
            try SessionFrame(type: 24, body: body(.request(bigToken)))
        }
        var tooManyConversations = ByteWriter()
        tooManyConversations.write(byte: 0)
        tooManyConversations.write(varint: UInt64(1_025))
        #expect(throws: WireError.tooLarge(field: "conversations", size: 1_025, limit: 1_024)) {
            try SessionFrame(type: 24, body: tooManyConversations.bytes)
        }
        var descendingRequest = body(.request(SessionRequest(conversations: [conversationA, conversationB])))
        descendingRequest.replaceSubrange(2 ..< 66, with: conversationB.bytes + conversationA.bytes)
        #expect(throws: WireError.nonCanonical("conversations not ascending")) {
            try SessionFrame(type: 24, body: descendingRequest)
        }

        #expect(throws: WireError.nonCanonical("ping reply flag must be 0 or 1")) {
            try SessionFrame(type: 20, body: [0, 0, 0, 0, 0, 0, 0, 1, 2])
        }
        #expect(throws: WireError.invalidValue("no sealed token")) { try SessionFrame(type: 25, body: [0]) }
        #expect(throws: WireError.invalidValue("empty sealed token")) { try SessionFrame(type: 25, body: [1, 0]) }
        #expect(throws: WireError.tooLarge(field: "sealed tokens", size: 9, limit: 8)) { try SessionFrame(type: 25, body: [9]) }
        #expect(throws: WireError.unknownKind(26)) { try SessionFrame(type: 26, body: []) }
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
