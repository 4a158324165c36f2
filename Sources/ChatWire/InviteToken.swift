import ChatCore

/// What an admin grants with an invitation or share link.
public struct InviteTokenContent: Sendable, Hashable {
    public var conversation: ConversationID
    /// The permission a joiner receives.
    public var permission: Permission
    /// The admin who issued the token.
    public var issuer: ReplicaID
    /// 16 random bytes naming the token (for use counts and revocation).
    public var tokenID: [UInt8]
    /// Milliseconds since the Unix epoch.
    public var issuedAt: UInt64
    /// nil: never expires.
    public var expiresAt: UInt64?
    /// nil: unlimited uses.
    public var useLimit: UInt32?
    /// A label for the admin's list of links.
    public var label: String
    /// `host:port` of peers to contact.
    public var addresses: [String]

    public static let tokenIDBytes = 16
    public static let maxAddresses = 16

    public init(conversation: ConversationID, permission: Permission, issuer: ReplicaID, tokenID: [UInt8],
                issuedAt: UInt64, expiresAt: UInt64? = nil, useLimit: UInt32? = nil, label: String = "",
                addresses: [String] = []) {
        self.conversation = conversation
        self.permission = permission
        self.issuer = issuer
        self.tokenID = tokenID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.useLimit = useLimit
        self.label = label
        self.addresses = addresses
    }

    /// The canonical bytes that are signed.
    ///
    /// ```
    /// "SC" 0x01 0x02 conversation 32, permission 1, issuer 32, tokenID 16, issuedAt varint,
    /// flags (bit 0 expiry, bit 1 use limit) [expiresAt varint] [useLimit varint],
    /// label string, addresses: count then strings
    /// ```
    public func signingBytes() -> [UInt8] {
        var writer = ByteWriter(capacity: 160)
        writer.writeHeader(.inviteToken)
        writer.write(bytes: conversation.bytes)
        writer.write(byte: permission.rawValue)
        writer.write(bytes: issuer.bytes)
        writer.write(bytes: tokenID)
        writer.write(varint: issuedAt)
        writer.write(byte: (expiresAt != nil ? 1 : 0) | (useLimit != nil ? 2 : 0))
        if let expiresAt { writer.write(varint: expiresAt) }
        if let useLimit { writer.write(varint: useLimit) }
        writer.write(string: label)
        writer.write(varint: UInt64(addresses.count))
        for address in addresses { writer.write(string: address) }
        return writer.bytes
    }
}

/// A signed invite token: the admin's grant plus an Ed25519 signature over its exact bytes.
public struct InviteToken: Sendable, Hashable {
    public let content: InviteTokenContent
    /// Signing bytes followed by the 64-byte signature.
    public let bytes: [UInt8]

    public var signedBytes: ArraySlice<UInt8> { bytes.dropLast(WireFormat.signatureBytes) }
    public var signature: ArraySlice<UInt8> { bytes.suffix(WireFormat.signatureBytes) }

    /// Encodes and signs.
    public init(content: InviteTokenContent, sign: ([UInt8]) -> [UInt8]) {
        self.content = content
        bytes = WireFormat.appendingSignature(to: content.signingBytes(), sign: sign)
    }

    /// Decodes untrusted bytes (structure, limits, canonical form; not the signature).
    public init(decoding bytes: [UInt8], limits: WireLimits = .default) throws(WireError) {
        var reader = try WireFormat.signedPart(of: bytes, kind: .inviteToken, field: "invite token",
                                               maxBytes: limits.maxTokenBytes, limits: limits)
        let conversation = try reader.conversationID()
        let rawPermission = try reader.byte()
        guard let permission = Permission(rawValue: rawPermission) else {
            throw .invalidValue("permission level \(rawPermission)")
        }
        let issuer = try reader.replicaID()
        let tokenID = Array(try reader.bytes(InviteTokenContent.tokenIDBytes))
        let issuedAt = try reader.varint()
        let flags = try reader.byte()
        guard flags < 4 else { throw .nonCanonical("unknown token flags") }
        let expiresAt = flags & 1 != 0 ? try reader.varint() : nil
        let useLimit = flags & 2 != 0 ? try reader.varint32() : nil
        let label = try reader.string("label", limit: limits.maxStringBytes)
        let count = try reader.count("addresses", limit: InviteTokenContent.maxAddresses)
        var addresses: [String] = []
        for _ in 0 ..< count { addresses.append(try reader.string("address", limit: 255)) }
        guard reader.isAtEnd else { throw .trailingBytes(bytes.count - WireFormat.signatureBytes - reader.offset) }
        content = InviteTokenContent(
            conversation: conversation, permission: permission, issuer: issuer, tokenID: tokenID,
            issuedAt: issuedAt, expiresAt: expiresAt, useLimit: useLimit, label: label, addresses: addresses)
        self.bytes = bytes
    }
}
