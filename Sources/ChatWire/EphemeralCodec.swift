import ChatCore

extension EphemeralUpdate {
    /// The canonical bytes that are signed (everything but the signature).
    ///
    /// ```
    /// "SC" 0x01 0x03 conversation 32, origin 32, counter varint, sentAt varint, payload tag 1, then
    /// 1 presence:  status 1 (0 online, 1 away, 2 dnd, 3 offline), lastActiveAt varint,
    ///              flags 1 (bit 0 custom status, bit 1 emoji) [customStatus string] [statusEmoji string]
    /// 2 typing:    isTyping 1 (0/1), has message 1 (0/1) [message: replica 32, counter varint]
    /// 3 cursor:    scrollTop, scrollHeight, viewportHeight varints, has focus 1 (0/1) [message]
    /// 4 heartbeat, 5 goodbye: nothing
    /// ```
    /// Strings are a varint byte length then UTF-8.
    /// - Complexity: O(size), at most ``SignedEphemeral/maxBytes``.
    public func signingBytes() -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.writeHeader(.ephemeral)
        writer.write(bytes: conversation.bytes)
        writer.write(bytes: origin.bytes)
        writer.write(varint: counter)
        writer.write(varint: sentAt)
        writer.write(byte: payload.kind.rawValue)
        switch payload {
        case .presence(let presence):
            writer.write(byte: EphemeralCodec.wireStatus(presence.status))
            writer.write(varint: presence.lastActiveAt)
            writer.write(byte: (presence.customStatus != nil ? 1 : 0) | (presence.statusEmoji != nil ? 2 : 0))
            if let customStatus = presence.customStatus { writer.write(string: customStatus) }
            if let statusEmoji = presence.statusEmoji { writer.write(string: statusEmoji) }
        case .typing(let typing):
            writer.write(bool: typing.isTyping)
            EphemeralCodec.write(typing.message, into: &writer)
        case .cursor(let cursor):
            writer.write(varint: cursor.scrollTop)
            writer.write(varint: cursor.scrollHeight)
            writer.write(varint: cursor.viewportHeight)
            EphemeralCodec.write(cursor.focusedMessage, into: &writer)
        case .heartbeat, .goodbye:
            break
        }
        return writer.bytes
    }
}

/// A signed ephemeral update (presence, typing, cursor, heartbeat, goodbye), kept as the exact
/// bytes that were signed and sent so relays forward it verbatim and anyone can check its origin.
///
/// Bounded: strings at most ``maxStringBytes`` UTF-8 bytes each, the whole encoding (signature
/// included) at most ``maxBytes``, under 1 KB — refused with `.tooLarge` on both sides.
public struct SignedEphemeral: Sendable, Hashable {
    /// The largest encoding accepted, signature included: under 1 KiB.
    public static let maxBytes = 1_023
    /// The largest custom status or status emoji, in UTF-8 bytes.
    public static let maxStringBytes = 256

    /// The decoded update.
    public let update: EphemeralUpdate
    /// The full encoding: signing bytes followed by the 64-byte signature.
    public let bytes: [UInt8]

    /// The bytes the signature covers.
    public var signedBytes: ArraySlice<UInt8> { bytes.dropLast(WireFormat.signatureBytes) }

    /// The 64 signature bytes.
    public var signature: ArraySlice<UInt8> { bytes.suffix(WireFormat.signatureBytes) }

    /// Encodes `update` and appends the signature `sign` makes over the encoding.
    ///
    /// - Throws: `.tooLarge` if a string is over ``maxStringBytes`` (nothing is signed), so a sender
    ///   never signs what every receiver would refuse.
    /// - Complexity: O(size), plus one signature.
    public init(update: EphemeralUpdate, sign: ([UInt8]) -> [UInt8]) throws(WireError) {
        if case .presence(let presence) = update.payload {
            try EphemeralCodec.checkLength(presence.customStatus, field: "custom status", limit: Self.maxStringBytes)
            try EphemeralCodec.checkLength(presence.statusEmoji, field: "status emoji", limit: Self.maxStringBytes)
        }
        let bytes = WireFormat.appendingSignature(to: update.signingBytes(), sign: sign)
        guard bytes.count <= Self.maxBytes else {
            throw .tooLarge(field: "ephemeral update", size: bytes.count, limit: Self.maxBytes)
        }
        self.update = update
        self.bytes = bytes
    }

    /// Decodes untrusted bytes. Checks structure, limits and canonical form; the signature is
    /// checked by the caller (this module does no cryptography), against `update.origin`.
    /// - Complexity: O(size), at most ``maxBytes``.
    public init(decoding bytes: [UInt8], limits: WireLimits = .default) throws(WireError) {
        var reader = try WireFormat.signedPart(of: bytes, kind: .ephemeral, field: "ephemeral update",
                                               maxBytes: min(Self.maxBytes, limits.maxFrameBytes), limits: limits)
        let stringLimit = min(Self.maxStringBytes, limits.maxStringBytes)
        let conversation = try reader.conversationID()
        let origin = try reader.replicaID()
        let counter = try reader.varint()
        let sentAt = try reader.varint()
        let tag = try reader.byte()
        let payload: EphemeralPayload
        switch EphemeralKind(rawValue: tag) {
        case .presence:
            let rawStatus = try reader.byte()
            guard let status = EphemeralCodec.status(wire: rawStatus) else { throw .invalidValue("presence status \(rawStatus)") }
            let lastActiveAt = try reader.varint()
            let flags = try reader.byte()
            guard flags < 4 else { throw .nonCanonical("unknown presence flags") }
            let customStatus = flags & 1 != 0 ? try reader.string("custom status", limit: stringLimit) : nil
            let statusEmoji = flags & 2 != 0 ? try reader.string("status emoji", limit: stringLimit) : nil
            payload = .presence(Presence(status: status, lastActiveAt: lastActiveAt, customStatus: customStatus,
                                         statusEmoji: statusEmoji))
        case .typing:
            let isTyping = try reader.bool("isTyping")
            payload = .typing(Typing(isTyping: isTyping, message: try EphemeralCodec.readOptionalID(&reader, field: "message")))
        case .cursor:
            let scrollTop = try reader.varint32()
            let scrollHeight = try reader.varint32()
            let viewportHeight = try reader.varint32()
            let focused = try EphemeralCodec.readOptionalID(&reader, field: "focused message")
            payload = .cursor(Cursor(scrollTop: scrollTop, scrollHeight: scrollHeight, viewportHeight: viewportHeight,
                                     focusedMessage: focused))
        case .heartbeat:
            payload = .heartbeat
        case .goodbye:
            payload = .goodbye
        case nil:
            throw .invalidValue("ephemeral payload tag \(tag)")
        }
        guard reader.isAtEnd else { throw .trailingBytes(bytes.count - WireFormat.signatureBytes - reader.offset) }
        self.update = EphemeralUpdate(conversation: conversation, origin: origin, counter: counter, sentAt: sentAt,
                                      payload: payload)
        self.bytes = bytes
    }
}

/// Field helpers for ephemeral updates.
enum EphemeralCodec {
    /// The wire byte of a status: fixed by the format, independent of the enum's raw values.
    static func wireStatus(_ status: PresenceStatus) -> UInt8 {
        switch status {
        case .online: 0
        case .away: 1
        case .doNotDisturb: 2
        case .offline: 3
        }
    }

    static func status(wire: UInt8) -> PresenceStatus? {
        switch wire {
        case 0: .online
        case 1: .away
        case 2: .doNotDisturb
        case 3: .offline
        default: nil
        }
    }

    static func write(_ id: OpID?, into writer: inout ByteWriter) {
        writer.write(bool: id != nil)
        if let id {
            writer.write(bytes: id.replica.bytes)
            writer.write(varint: id.counter)
        }
    }

    static func readOptionalID(_ reader: inout WireReader, field: String) throws(WireError) -> OpID? {
        guard try reader.bool("has \(field)") else { return nil }
        let replica = try reader.replicaID()
        return OpID(replica: replica, counter: try reader.varint32())
    }

    static func checkLength(_ string: String?, field: String, limit: Int) throws(WireError) {
        guard let count = string?.utf8.count, count > limit else { return }
        throw .tooLarge(field: field, size: count, limit: limit)
    }
}
