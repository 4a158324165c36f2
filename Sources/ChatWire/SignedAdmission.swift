import ChatCore

/// A member's signed ``JoinAdmission``: the record a joiner carries in its join operation so
/// every replica judges the join on the admitting member's clock and count.
///
/// ```
/// "SC" 0x01 0x04 conversation 32, joiner 32, tokenID 16, admitter 32, admittedAt varint,
/// usesSeen varint, then the admitter's 64-byte Ed25519 signature over everything before it
/// ```
public struct SignedAdmission: Sendable, Hashable {
    public let content: JoinAdmission
    /// Signing bytes followed by the 64-byte signature.
    public let bytes: [UInt8]

    public var signedBytes: ArraySlice<UInt8> { bytes.dropLast(WireFormat.signatureBytes) }
    public var signature: ArraySlice<UInt8> { bytes.suffix(WireFormat.signatureBytes) }

    /// The largest encoding (all varints at their longest).
    public static let maxBytes = 4 + 32 + 32 + InviteTokenContent.tokenIDBytes + 32 + 10 + 5 + WireFormat.signatureBytes

    /// Encodes and signs (`sign` is the admitter's key).
    public init(content: JoinAdmission, sign: ([UInt8]) -> [UInt8]) {
        precondition(content.tokenID.count == InviteTokenContent.tokenIDBytes, "a token id is 16 bytes") // SAFETY: programming error, not input
        var writer = ByteWriter(capacity: Self.maxBytes)
        writer.writeHeader(.admission)
        writer.write(bytes: content.conversation.bytes)
        writer.write(bytes: content.joiner.bytes)
        writer.write(bytes: content.tokenID)
        writer.write(bytes: content.admitter.bytes)
        writer.write(varint: content.admittedAt)
        writer.write(varint: content.usesSeen)
        self.content = content
        bytes = WireFormat.appendingSignature(to: writer.bytes, sign: sign)
    }

    /// Decodes untrusted bytes (structure and canonical form; not the signature).
    public init(decoding bytes: [UInt8], limits: WireLimits = .default) throws(WireError) {
        var reader = try WireFormat.signedPart(of: bytes, kind: .admission, field: "join admission", maxBytes: Self.maxBytes,
                                               limits: limits)
        let conversation = try reader.conversationID()
        let joiner = try reader.replicaID()
        let tokenID = Array(try reader.bytes(InviteTokenContent.tokenIDBytes))
        let admitter = try reader.replicaID()
        let admittedAt = try reader.varint()
        let usesSeen = try reader.varint32()
        guard reader.isAtEnd else { throw .trailingBytes(bytes.count - WireFormat.signatureBytes - reader.offset) }
        content = JoinAdmission(conversation: conversation, joiner: joiner, tokenID: tokenID, admitter: admitter,
                                admittedAt: admittedAt, usesSeen: usesSeen)
        self.bytes = bytes
    }
}
