import ChatCore
import ChatCrypto
import ChatWire
import Testing

/// Signed ephemeral updates: round trips, bounds (under 1 KB), canonical form, refusal of every
/// truncation, and signatures that verify with the origin's key.
@Suite struct EphemeralCodecTests {
    /// A fixed test identity (seed 0x0E…); never use it for anything real.
    static let key = try! SigningKey(seed: Array(repeating: 0x0E, count: 32)) // SAFETY: fixed valid test seed
    static let otherKey = try! SigningKey(seed: Array(repeating: 0x0F, count: 32)) // SAFETY: fixed valid test seed
    static let conversation = ConversationID(bytes: Array(repeating: 0xC3, count: 32))! // SAFETY: 32 bytes
    static let t0: UInt64 = 1_750_000_000_000

    var origin: ReplicaID { Self.key.publicKey.replicaID }

    /// 256 UTF-8 bytes: 64 four-byte emoji.
    static let maximalString = String(repeating: "🎉", count: 64)

    /// One update of every payload, with and without optional fields, at the extremes of each field.
    var samples: [EphemeralUpdate] {
        let message = OpID(replica: Self.otherKey.publicKey.replicaID, counter: .max)
        let payloads: [EphemeralPayload] = [
            .presence(Presence(status: .online, lastActiveAt: Self.t0)),
            .presence(Presence(status: .away, lastActiveAt: 0, customStatus: "", statusEmoji: nil)),
            .presence(Presence(status: .doNotDisturb, lastActiveAt: Self.t0, customStatus: nil, statusEmoji: "🎧")),
            .presence(Presence(status: .offline, lastActiveAt: .max, customStatus: Self.maximalString,
                               statusEmoji: Self.maximalString)),
            .typing(Typing(isTyping: true)),
            .typing(Typing(isTyping: false)),
            .typing(Typing(isTyping: true, message: message)),
            .cursor(Cursor(scrollTop: 0, scrollHeight: 0, viewportHeight: 0)),
            .cursor(Cursor(scrollTop: .max, scrollHeight: .max, viewportHeight: .max, focusedMessage: message)),
            .heartbeat,
            .goodbye,
        ]
        return payloads.enumerated().map { index, payload in
            EphemeralUpdate(conversation: Self.conversation, origin: origin,
                            counter: index.isMultiple(of: 2) ? UInt64(index) : .max,
                            sentAt: index == 3 ? .max : Self.t0 + UInt64(index), payload: payload)
        }
    }

    func sign(_ update: EphemeralUpdate) throws -> SignedEphemeral {
        try SignedEphemeral(update: update) { Self.key.sign($0).bytes }
    }

    @Test func everyPayloadRoundTripsAndVerifies() throws {
        for update in samples {
            let signed = try sign(update)
            let decoded = try SignedEphemeral(decoding: signed.bytes)
            #expect(decoded.update == update)
            #expect(decoded == signed)
            #expect(Array(decoded.signedBytes) == update.signingBytes(), "encode(decode(b)) == b")
            let signature = try #require(Signature(bytes: decoded.signature))
            #expect(PublicKey(decoded.update.origin).isValidSignature(signature, for: decoded.signedBytes),
                    "\(update.payload.kind) verifies against its origin")
            #expect(!Self.otherKey.publicKey.isValidSignature(signature, for: decoded.signedBytes),
                    "and against nobody else")
        }
    }

    @Test func everyEncodedUpdateIsUnderOneKilobyte() throws {
        var largest = 0
        for update in samples {
            let size = try sign(update).bytes.count
            #expect(size < 1_024, "\(update.payload.kind): \(size) bytes")
            largest = max(largest, size)
        }
        // The largest possible update: two maximal strings and every varint at its widest.
        #expect(largest == 4 + 32 + 32 + 10 + 10 + 1 + 1 + 10 + 1 + 2 * (2 + 256) + 64)
        #expect(largest <= SignedEphemeral.maxBytes)
    }

    @Test func everyTruncationIsRefused() throws {
        for update in samples {
            let bytes = try sign(update).bytes
            for length in 0 ..< bytes.count {
                #expect(throws: WireError.self, "\(update.payload.kind) cut to \(length) bytes") {
                    try SignedEphemeral(decoding: Array(bytes.prefix(length)))
                }
            }
        }
    }

    @Test func everySingleByteCorruptionIsRefusedOrFailsTheSignature() throws {
        for update in samples {
            let signed = try sign(update)
            for index in signed.bytes.indices {
                var bytes = signed.bytes
                bytes[index] ^= 0x5A
                guard let decoded = try? SignedEphemeral(decoding: bytes) else { continue }
                let signature = try #require(Signature(bytes: decoded.signature))
                #expect(!PublicKey(decoded.update.origin).isValidSignature(signature, for: decoded.signedBytes),
                        "\(update.payload.kind): byte \(index) changed yet verifies")
            }
        }
    }

    @Test func oversizedInputIsRefused() throws {
        let huge = [UInt8](repeating: 0, count: 1_024)
        #expect(throws: WireError.tooLarge(field: "ephemeral update", size: 1_024, limit: 1_023)) {
            try SignedEphemeral(decoding: huge)
        }
        // A string one byte over the limit: the sender refuses to sign it…
        let long = EphemeralUpdate(conversation: Self.conversation, origin: origin, counter: 1, sentAt: Self.t0,
                                   payload: .presence(Presence(status: .online, lastActiveAt: Self.t0,
                                                               customStatus: Self.maximalString + "!")))
        #expect(throws: WireError.tooLarge(field: "custom status", size: 257, limit: 256)) { try sign(long) }
        let emoji = EphemeralUpdate(conversation: Self.conversation, origin: origin, counter: 1, sentAt: Self.t0,
                                    payload: .presence(Presence(status: .online, lastActiveAt: Self.t0,
                                                                statusEmoji: Self.maximalString + "!")))
        #expect(throws: WireError.tooLarge(field: "status emoji", size: 257, limit: 256)) { try sign(emoji) }
        // …and a receiver refuses it before reading it.
        let forged = long.signingBytes() + Self.key.sign(long.signingBytes()).bytes
        #expect(forged.count < 1_024)
        #expect(throws: WireError.tooLarge(field: "custom status", size: 257, limit: 256)) {
            try SignedEphemeral(decoding: forged)
        }
    }

    @Test func layoutIsAsDocumented() throws {
        let heartbeat = EphemeralUpdate(conversation: Self.conversation, origin: origin, counter: 300, sentAt: 5,
                                        payload: .heartbeat)
        #expect(heartbeat.signingBytes() == [0x53, 0x43, 0x01, 0x03] + Self.conversation.bytes + origin.bytes
            + [0xAC, 0x02, 0x05, 0x04])
        let typing = EphemeralUpdate(conversation: Self.conversation, origin: origin, counter: 1, sentAt: 2,
                                     payload: .typing(Typing(isTyping: true, message: OpID(replica: origin, counter: 7))))
        #expect(typing.signingBytes() == [0x53, 0x43, 0x01, 0x03] + Self.conversation.bytes + origin.bytes
            + [0x01, 0x02, 0x02, 0x01, 0x01] + origin.bytes + [0x07])
        let presence = EphemeralUpdate(conversation: Self.conversation, origin: origin, counter: 1, sentAt: 2,
                                       payload: .presence(Presence(status: .doNotDisturb, lastActiveAt: 3, statusEmoji: "✓")))
        #expect(presence.signingBytes() == [0x53, 0x43, 0x01, 0x03] + Self.conversation.bytes + origin.bytes
            + [0x01, 0x02, 0x01, 0x02, 0x03, 0x02, 0x03, 0xE2, 0x9C, 0x93])
    }

    /// Re-signs `signing` (so only the structure is at fault) and decodes it.
    func decodeResigned(_ signing: [UInt8]) throws(WireError) -> SignedEphemeral {
        try SignedEphemeral(decoding: signing + Self.key.sign(signing).bytes)
    }

    @Test func nonCanonicalAndUnknownFormsAreRefused() throws {
        let header = [0x53, 0x43, 0x01, 0x03] + Self.conversation.bytes + origin.bytes
        let start = header + [0x01, 0x02]
        #expect(throws: WireError.nonCanonical("isTyping must be 0 or 1")) { try decodeResigned(start + [0x02, 0x02, 0x00]) }
        #expect(throws: WireError.nonCanonical("has message must be 0 or 1")) { try decodeResigned(start + [0x02, 0x01, 0x02]) }
        #expect(throws: WireError.nonCanonical("unknown presence flags")) { try decodeResigned(start + [0x01, 0x00, 0x03, 0x04]) }
        #expect(throws: WireError.invalidValue("presence status 4")) { try decodeResigned(start + [0x01, 0x04, 0x03, 0x00]) }
        #expect(throws: WireError.invalidValue("ephemeral payload tag 9")) { try decodeResigned(start + [0x09]) }
        #expect(throws: WireError.invalidValue("ephemeral payload tag 0")) { try decodeResigned(start + [0x00]) }
        #expect(throws: WireError.trailingBytes(1)) { try decodeResigned(start + [0x04, 0x00]) }
        #expect(throws: WireError.invalidUTF8(field: "custom status")) {
            try decodeResigned(start + [0x01, 0x00, 0x03, 0x01, 0x02, 0xC3, 0x28])
        }
        #expect(throws: WireError.malformed(.malformedVarint(offset: header.count))) {
            try decodeResigned(header + [0x81, 0x00, 0x02, 0x04])
        }
        #expect(throws: WireError.malformed(.invalidValue(offset: header.count + 3, reason: "exceeds 32 bits"))) {
            try decodeResigned(start + [0x03, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x00, 0x00])
        }
        var kind = try sign(samples[9]).bytes
        kind[3] = 1
        #expect(throws: WireError.unknownKind(1)) { try SignedEphemeral(decoding: kind) }
        var version = try sign(samples[9]).bytes
        version[2] = 2
        #expect(throws: WireError.unknownVersion(2)) { try SignedEphemeral(decoding: version) }
    }

    @Test func decodedUpdatesFeedTheRegisters() throws {
        var registers = EphemeralRegisters(conversation: Self.conversation)
        let typing = EphemeralUpdate(conversation: Self.conversation, origin: origin, counter: 1, sentAt: Self.t0,
                                     payload: .typing(Typing(isTyping: true)))
        let wire = try sign(typing).bytes
        let decoded = try SignedEphemeral(decoding: wire)
        #expect(registers.receive(decoded.update, now: Self.t0 + 20) == .accepted)
        #expect(registers.typingOrigins(now: Self.t0 + 20) == [origin])
        #expect(registers.receive(try SignedEphemeral(decoding: wire).update, now: Self.t0 + 40) == .stale, "a relayed copy")
    }
}
