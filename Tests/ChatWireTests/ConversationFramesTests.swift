import ChatCore
import ChatCrypto
import ChatWire
import Testing

/// The `ephemeral` (type 3), `peers` (type 4), `admission` (5), `invitation` (6) and
/// `admissionRefused` (7) data frames: round trips, a typed error for every limit, and no trap on
/// any truncation.
@Suite struct ConversationFramesTests {
    static let t0: UInt64 = 1_750_000_000_000

    var alice: ReplicaID { TestKeys.alice.publicKey.replicaID }
    var bob: ReplicaID { TestKeys.bob.publicKey.replicaID }

    /// Signed updates of every payload kind by alice.
    func signedUpdates() throws -> [[UInt8]] {
        let payloads: [EphemeralPayload] = [
            .presence(Presence(status: .away, lastActiveAt: Self.t0, customStatus: "lunch", statusEmoji: "🥪")),
            .typing(Typing(isTyping: true, message: OpID(replica: bob, counter: 4))),
            .cursor(Cursor(scrollTop: 10, scrollHeight: 2_000, viewportHeight: 800)),
            .heartbeat,
            .goodbye,
        ]
        return try payloads.enumerated().map { index, payload in
            let update = EphemeralUpdate(conversation: testConversation, origin: alice, counter: UInt64(index + 1),
                                         sentAt: Self.t0 + UInt64(index), payload: payload)
            return try SignedEphemeral(update: update) { TestKeys.alice.sign($0).bytes }.bytes
        }
    }

    func addresses() throws -> [PeerAddress] {
        [
            try PeerAddress(replica: alice, host: "192.0.2.7", port: 7400),
            try PeerAddress(replica: bob, host: "bücher.example", port: 1),
            try PeerAddress(replica: bob, host: "[2001:db8::1]", port: .max),
            try PeerAddress(replica: alice, host: String(repeating: "a", count: PeerAddress.maxHostBytes), port: 443),
        ]
    }

    /// Encodes then decodes through the header, as a stream reader would.
    func roundTrip(_ frame: DataFrame, limits: WireLimits = .default) throws -> DataFrame {
        let bytes = frame.encoded()
        let header = try FrameHeader(decoding: bytes.prefix(FrameHeader.byteCount), limits: limits)
        #expect(header.length == bytes.count - FrameHeader.byteCount)
        return try DataFrame(type: header.type, body: Array(bytes.dropFirst(FrameHeader.byteCount)), limits: limits)
    }

    /// The body of a `peers` frame with one address whose fields are written as given.
    func peersBody(hostBytes: [UInt8], port: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(bytes: testConversation.bytes)
        writer.write(varint: UInt64(1))
        writer.write(bytes: alice.bytes)
        writer.write(varint: UInt64(hostBytes.count))
        writer.write(bytes: hostBytes)
        writer.write(varint: port)
        return writer.bytes
    }

    /// The body of an `ephemeral` frame with updates of the given lengths (zero bytes each).
    func ephemeralBody(lengths: [Int]) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(bytes: testConversation.bytes)
        writer.write(varint: UInt64(lengths.count))
        for length in lengths {
            writer.write(varint: UInt64(length))
            writer.write(bytes: [UInt8](repeating: 0, count: length))
        }
        return writer.bytes
    }

    // MARK: Round trips

    @Test func ephemeralFrameRoundTripsAndItsUpdatesDecode() throws {
        let updates = try signedUpdates()
        let frame = DataFrame.ephemeral(conversation: testConversation, updates: updates)
        #expect(frame.encoded()[3] == DataFrame.FrameType.ephemeral.rawValue)
        #expect(try roundTrip(frame) == frame)
        guard case .ephemeral(_, let decoded) = try roundTrip(frame) else {
            Issue.record("frame type")
            return
        }
        for bytes in decoded {
            let signed = try SignedEphemeral(decoding: bytes)
            let signature = try #require(Signature(bytes: signed.signature))
            #expect(TestKeys.alice.publicKey.isValidSignature(signature, for: signed.signedBytes))
        }
        let empty = DataFrame.ephemeral(conversation: testConversation, updates: [])
        #expect(try roundTrip(empty) == empty)
    }

    @Test func ephemeralFrameAtItsLimits() throws {
        let full = DataFrame.ephemeral(
            conversation: testConversation,
            updates: Array(repeating: [UInt8](repeating: 7, count: SignedEphemeral.maxBytes),
                           count: WireLimits.default.maxEphemeralPerFrame))
        #expect(try roundTrip(full) == full)
    }

    @Test func peersFrameRoundTrips() throws {
        let frame = DataFrame.peers(conversation: testConversation, addresses: try addresses())
        #expect(frame.encoded()[3] == DataFrame.FrameType.peers.rawValue)
        #expect(try roundTrip(frame) == frame)
        let full = DataFrame.peers(conversation: testConversation,
                                   addresses: Array(repeating: try addresses()[0], count: WireLimits.default.maxPeerAddresses))
        #expect(try roundTrip(full) == full)
        let empty = DataFrame.peers(conversation: testConversation, addresses: [])
        #expect(try roundTrip(empty) == empty)
    }

    /// Admission (5), invitation (6) and admission-refused (7) frames round-trip; their byte
    /// fields are bounded before anything is allocated; unknown refusal codes decode as themselves.
    @Test func admissionAndInvitationFramesRoundTrip() throws {
        let frames: [DataFrame] = [
            .admission(conversation: testConversation, admission: Array(repeating: 7, count: SignedAdmission.maxBytes)),
            .invitation(conversation: testConversation, token: Array(0 ..< 200)),
            .admissionRefused(conversation: testConversation, reason: .inviteRevoked),
            .admissionRefused(conversation: testConversation, reason: RefuseCode(rawValue: 200)),
        ]
        for frame in frames { #expect(try roundTrip(frame) == frame) }
        var oversized = ByteWriter()
        oversized.write(bytes: testConversation.bytes)
        oversized.write(varint: UInt64(SignedAdmission.maxBytes + 1))
        oversized.write(bytes: Array(repeating: 0, count: SignedAdmission.maxBytes + 1))
        #expect(throws: WireError.self) { try DataFrame(type: 5, body: oversized.bytes) }
        for frame in frames {
            let bytes = frame.encoded()
            let body = Array(bytes.dropFirst(FrameHeader.byteCount))
            for length in 0 ..< body.count {
                #expect(throws: WireError.self) { try DataFrame(type: bytes[3], body: Array(body.prefix(length))) }
            }
            #expect(throws: WireError.trailingBytes(1)) { try DataFrame(type: bytes[3], body: body + [0]) }
        }
    }

    // MARK: Limits

    @Test func tooManyEphemeralUpdatesIsRefused() {
        let limit = WireLimits.default.maxEphemeralPerFrame
        let body = ephemeralBody(lengths: Array(repeating: 0, count: limit + 1))
        #expect(throws: WireError.tooLarge(field: "ephemeral updates in frame", size: limit + 1, limit: limit)) {
            try DataFrame(type: 3, body: body)
        }
        var small = WireLimits.default
        small.maxEphemeralPerFrame = 2
        #expect(throws: WireError.tooLarge(field: "ephemeral updates in frame", size: 3, limit: 2)) {
            try DataFrame(type: 3, body: ephemeralBody(lengths: [1, 1, 1]), limits: small)
        }
    }

    @Test func oversizedEphemeralUpdateIsRefused() {
        let size = SignedEphemeral.maxBytes + 1
        #expect(throws: WireError.tooLarge(field: "ephemeral update", size: size, limit: SignedEphemeral.maxBytes)) {
            try DataFrame(type: 3, body: ephemeralBody(lengths: [10, size]))
        }
    }

    @Test func tooManyPeerAddressesIsRefused() throws {
        let limit = WireLimits.default.maxPeerAddresses
        let frame = DataFrame.peers(conversation: testConversation,
                                    addresses: Array(repeating: try addresses()[1], count: limit + 1))
        #expect(throws: WireError.tooLarge(field: "peer addresses in frame", size: limit + 1, limit: limit)) {
            try roundTrip(frame)
        }
    }

    @Test func invalidPeerAddressesAreRefused() {
        let cases: [(hostBytes: [UInt8], port: UInt64, error: WireError)] = [
            (Array("example.org".utf8), 0, .invalidValue("peer port 0")),
            (Array("example.org".utf8), 65_536, .invalidValue("peer port 65536")),
            (Array("example.org".utf8), .max, .invalidValue("peer port \(UInt64.max)")),
            ([], 7400, .invalidValue("empty peer host")),
            (Array(repeating: 0x61, count: 254), 7400, .tooLarge(field: "peer host", size: 254, limit: 253)),
            ([0x61, 0xFF, 0x62], 7400, .invalidUTF8(field: "peer host")),
            ([0xC3], 7400, .invalidUTF8(field: "peer host")),
        ]
        for item in cases {
            #expect(throws: item.error) {
                try DataFrame(type: 4, body: peersBody(hostBytes: item.hostBytes, port: item.port))
            }
        }
        #expect(throws: Never.self) {
            try DataFrame(type: 4, body: peersBody(hostBytes: Array(repeating: 0x61, count: 253), port: 65_535))
        }
    }

    @Test func peerAddressInitRefusesWhatReceiversRefuse() {
        #expect(throws: WireError.invalidValue("empty peer host")) { try PeerAddress(replica: alice, host: "", port: 1) }
        #expect(throws: WireError.invalidValue("peer port 0")) { try PeerAddress(replica: alice, host: "a", port: 0) }
        // 127 two-byte characters: 254 UTF-8 bytes.
        #expect(throws: WireError.tooLarge(field: "peer host", size: 254, limit: 253)) {
            try PeerAddress(replica: alice, host: String(repeating: "é", count: 127), port: 1)
        }
    }

    @Test func trailingBytesAreRefused() throws {
        let peers = DataFrame.peers(conversation: testConversation, addresses: try addresses()).encoded()
        let ephemeral = DataFrame.ephemeral(conversation: testConversation, updates: try signedUpdates()).encoded()
        for (type, frame) in [(UInt8(4), peers), (UInt8(3), ephemeral)] {
            #expect(throws: WireError.trailingBytes(1)) {
                try DataFrame(type: type, body: Array(frame.dropFirst(FrameHeader.byteCount)) + [0])
            }
        }
    }

    // MARK: Truncation

    /// Every strict prefix of a valid body is refused with a typed error (and nothing traps).
    @Test func everyTruncationIsRefused() throws {
        let frames = [
            DataFrame.ephemeral(conversation: testConversation, updates: try signedUpdates()),
            DataFrame.peers(conversation: testConversation, addresses: try addresses()),
        ]
        for frame in frames {
            let bytes = frame.encoded()
            let type = bytes[3]
            let body = Array(bytes.dropFirst(FrameHeader.byteCount))
            for length in 0 ..< body.count {
                #expect(throws: WireError.self, "prefix of \(length) bytes") {
                    try DataFrame(type: type, body: Array(body.prefix(length)))
                }
            }
        }
    }

    /// Single-byte corruptions of a valid body decode or throw, never trap; what decodes re-encodes
    /// to the same bytes (the encoding is canonical).
    @Test func corruptedBodiesNeverTrap() throws {
        let frames = [
            DataFrame.ephemeral(conversation: testConversation, updates: try signedUpdates()),
            DataFrame.peers(conversation: testConversation, addresses: try addresses()),
        ]
        for frame in frames {
            let bytes = frame.encoded()
            let body = Array(bytes.dropFirst(FrameHeader.byteCount))
            for index in body.indices {
                for value: UInt8 in [0x00, 0x7F, 0x80, 0xFF] {
                    var corrupted = body
                    corrupted[index] = value
                    if let decoded = try? DataFrame(type: bytes[3], body: corrupted) {
                        #expect(Array(decoded.encoded().dropFirst(FrameHeader.byteCount)) == corrupted)
                    }
                }
            }
        }
    }
}
