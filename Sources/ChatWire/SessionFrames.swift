import ChatCore

/// Why a side refuses or ends a session, as sent in a ``SessionFrame/refuse(_:)`` frame.
///
/// A one-byte code; codes this build does not know decode as themselves (forward compatible) and are
/// treated as ``unspecified``.
public struct RefuseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The byte on the wire.
    public let rawValue: UInt8

    /// Wraps any byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// No reason given, or one this build does not know.
    public static let unspecified = RefuseCode(rawValue: 0)
    /// No protocol version in common.
    public static let unsupportedVersion = RefuseCode(rawValue: 1)
    /// A signature over the handshake transcript did not verify.
    public static let authenticationFailed = RefuseCode(rawValue: 2)
    /// The peer is not a member of any conversation it asked for and brought no acceptable invite.
    public static let notAMember = RefuseCode(rawValue: 3)
    /// The invite token was invalid, expired, used up or revoked.
    public static let invalidInvite = RefuseCode(rawValue: 4)
    /// The peer's membership was revoked.
    public static let revoked = RefuseCode(rawValue: 5)
    /// Bytes that do not decode.
    public static let malformed = RefuseCode(rawValue: 6)
    /// A frame that is valid but not allowed in the current phase.
    public static let protocolViolation = RefuseCode(rawValue: 7)
    /// More frames or bytes than the flow-control budget allows.
    public static let flood = RefuseCode(rawValue: 8)
    /// The handshake or the connection timed out.
    public static let timeout = RefuseCode(rawValue: 9)
    /// The node is shutting down or closing the session on purpose.
    public static let goingAway = RefuseCode(rawValue: 10)
    /// A node connected to itself.
    public static let selfConnection = RefuseCode(rawValue: 11)
    /// The invite token (or its link's record) has expired.
    public static let inviteExpired = RefuseCode(rawValue: 12)
    /// The link's use limit is reached.
    public static let inviteUsedUp = RefuseCode(rawValue: 13)
    /// An admin revoked the link.
    public static let inviteRevoked = RefuseCode(rawValue: 14)
    /// The invitee declined the direct invitation.
    public static let inviteDeclined = RefuseCode(rawValue: 15)
    /// A direct invitation presented by a key other than its invitee.
    public static let notTheInvitee = RefuseCode(rawValue: 16)
    /// The member vouched for as many joins this hour as it may (a public join's admission).
    public static let rateLimited = RefuseCode(rawValue: 17)

    /// A stable, machine-readable name.
    public var code: String {
        switch self {
        case .unsupportedVersion: "unsupported_version"
        case .authenticationFailed: "authentication_failed"
        case .notAMember: "not_a_member"
        case .invalidInvite: "invalid_invite"
        case .revoked: "revoked"
        case .malformed: "malformed"
        case .protocolViolation: "protocol_violation"
        case .flood: "flood"
        case .timeout: "timeout"
        case .goingAway: "going_away"
        case .selfConnection: "self_connection"
        case .inviteExpired: "invite_expired"
        case .inviteUsedUp: "invite_used_up"
        case .inviteRevoked: "invite_revoked"
        case .inviteDeclined: "invite_declined"
        case .notTheInvitee: "not_the_invitee"
        case .rateLimited: "rate_limited"
        default: "unspecified"
        }
    }

    /// The ``code`` (and the raw byte when unknown).
    public var description: String { code == "unspecified" && rawValue != 0 ? "unspecified(\(rawValue))" : code }
}

/// The dialer's opening frame: the versions it speaks, its ephemeral key and a nonce. Nothing in it
/// names the dialer or a conversation.
public struct SessionHello: Sendable, Hashable {
    /// The most protocol versions a hello may list.
    public static let maxVersions = 16
    /// Bytes in the random nonce.
    public static let nonceBytes = 32
    /// Bytes in the ephemeral X25519 public key.
    public static let ephemeralKeyBytes = 32

    /// Protocol versions the sender speaks (non-zero; encoded sorted, without repeats).
    public var versions: [UInt16]
    /// The sender's ephemeral X25519 public key for this session.
    public var ephemeralKey: [UInt8]
    /// 32 random bytes that make this handshake's transcript unique.
    public var nonce: [UInt8]

    /// A hello; `versions` are sorted and de-duplicated so the value has one encoding.
    public init(versions: [UInt16], ephemeralKey: [UInt8], nonce: [UInt8]) {
        self.versions = Array(Set(versions)).sorted()
        self.ephemeralKey = ephemeralKey
        self.nonce = nonce
    }

    /// `versions: count, varints ascending | ephemeral 32 | nonce 32`
    func encode(into writer: inout ByteWriter) {
        writer.write(varint: UInt64(versions.count))
        for version in versions { writer.write(varint: UInt64(version)) }
        writer.write(bytes: ephemeralKey)
        writer.write(bytes: nonce)
    }

    init(from reader: inout WireReader) throws(WireError) {
        versions = try Self.versions(from: &reader)
        ephemeralKey = Array(try reader.bytes(Self.ephemeralKeyBytes))
        nonce = Array(try reader.bytes(Self.nonceBytes))
    }

    /// The versions a hello body lists, read without the rest: a listener refuses a peer with no version
    /// in common as `unsupported_version` even when the rest of its hello has another layout.
    public static func versions(inBody body: [UInt8], limits: WireLimits = .default) throws(WireError) -> [UInt16] {
        var reader = WireReader(body, limits: limits)
        return try versions(from: &reader)
    }

    private static func versions(from reader: inout WireReader) throws(WireError) -> [UInt16] {
        let versionCount = try reader.count("versions", limit: Self.maxVersions)
        guard versionCount > 0 else { throw .invalidValue("a hello lists at least one version") }
        var versions: [UInt16] = []
        versions.reserveCapacity(versionCount)
        for _ in 0 ..< versionCount {
            let raw = try reader.varint()
            guard raw > 0, raw <= UInt64(UInt16.max) else { throw .invalidValue("protocol version \(raw)") }
            let version = UInt16(raw)
            guard versions.last.map({ $0 < version }) ?? true else { throw .nonCanonical("versions not ascending") }
            versions.append(version)
        }
        return versions
    }
}

/// The listener's answer to a hello: the version it chose, its ephemeral key and a nonce. Its stream
/// header (``SessionFrame/streamHeader(_:)``) and its sealed identity (``SessionFrame/identify(_:)``)
/// follow.
public struct SessionHelloReply: Sendable, Hashable {
    /// Bytes in a stream header (`crypto_secretstream_xchacha20poly1305_HEADERBYTES`).
    public static let streamHeaderBytes = 24

    /// The highest version both sides speak.
    public var selectedVersion: UInt16
    /// The listener's ephemeral X25519 public key for this session.
    public var ephemeralKey: [UInt8]
    /// 32 random bytes that make this handshake's transcript unique.
    public var nonce: [UInt8]

    /// A reply choosing `selectedVersion`.
    public init(selectedVersion: UInt16, ephemeralKey: [UInt8], nonce: [UInt8]) {
        self.selectedVersion = selectedVersion
        self.ephemeralKey = ephemeralKey
        self.nonce = nonce
    }
}

/// One side's long-term key and its Ed25519 signature over
/// ``SessionTranscript/authMessage(role:hello:helloReply:streamHeader:)``. Always sent sealed, so only
/// the other end of the key exchange learns who is speaking.
public struct SessionIdentity: Sendable, Hashable {
    /// The sender's long-term Ed25519 public key.
    public var identity: ReplicaID
    /// The 64-byte signature over the transcript.
    public var signature: [UInt8]

    /// An identity proof (sizes are checked when encoding and decoding).
    public init(identity: ReplicaID, signature: [UInt8]) {
        self.identity = identity
        self.signature = signature
    }
}

/// What the authenticated dialer asks for, sealed: conversations (in ascending chunks, so that any
/// number fits in bounded frames) and, in the first chunk, the invite token it joins with.
public struct SessionRequest: Sendable, Hashable {
    /// The most conversations one request frame carries (32 KiB of ids).
    public static let maxConversationsPerFrame = 1_024
    /// The most conversations a session may carry, over all request frames (and so in a welcome).
    public static let maxConversations = 100_000

    /// This chunk's conversations (encoded sorted, without repeats).
    public var conversations: [ConversationID]
    /// The exact bytes of an invite token, when the dialer joins without being a member yet (first chunk only).
    public var inviteToken: [UInt8]?
    /// The lookup hash of a short invite code the dialer wants resolved (first chunk only): the
    /// listener answers with ``SessionFrame/resolved(sealedTokens:)`` and closes.
    public var codeLookup: [UInt8]?
    /// Whether more request frames follow.
    public var hasMore: Bool

    /// The length of a code lookup.
    public static let codeLookupBytes = 32

    /// A request chunk; `conversations` are sorted and de-duplicated.
    public init(conversations: [ConversationID], inviteToken: [UInt8]? = nil, codeLookup: [UInt8]? = nil, hasMore: Bool = false) {
        self.conversations = Array(Set(conversations)).sorted()
        self.inviteToken = inviteToken
        self.codeLookup = codeLookup
        self.hasMore = hasMore
    }

    /// The request frames for `conversations` (sorted, de-duplicated, at most ``maxConversations``) and an
    /// optional token: one frame per ``maxConversationsPerFrame`` ids, the token in the first, at least one.
    public static func chunks(of conversations: [ConversationID], inviteToken: [UInt8]?,
                              codeLookup: [UInt8]? = nil) -> [SessionRequest] {
        let sorted = Array(Array(Set(conversations)).sorted().prefix(maxConversations))
        let starts = Array(stride(from: 0, to: max(sorted.count, 1), by: maxConversationsPerFrame))
        return starts.enumerated().map { index, start in
            let end = min(start + maxConversationsPerFrame, sorted.count)
            return SessionRequest(conversations: Array(sorted[start ..< end]), inviteToken: index == 0 ? inviteToken : nil,
                                  codeLookup: index == 0 ? codeLookup : nil, hasMore: index < starts.count - 1)
        }
    }

    /// `flags (bit 0: token, bit 1: more, bit 2: code lookup) [token: length, bytes] [lookup 32]
    /// | conversations: count, 32 each ascending`
    func encode(into writer: inout ByteWriter) {
        writer.write(byte: (inviteToken == nil ? 0 : 1) | (hasMore ? 2 : 0) | (codeLookup == nil ? 0 : 4))
        if let inviteToken {
            writer.write(varint: UInt64(inviteToken.count))
            writer.write(bytes: inviteToken)
        }
        if let codeLookup { writer.write(bytes: codeLookup) }
        writeConversations(conversations, into: &writer)
    }

    init(from reader: inout WireReader) throws(WireError) {
        let flags = try reader.byte()
        guard flags <= 7 else { throw .nonCanonical("unknown request flags") }
        if flags & 1 == 1 {
            let length = try reader.count("invite token", limit: reader.limits.maxTokenBytes)
            guard length > 0 else { throw .invalidValue("empty invite token") }
            inviteToken = Array(try reader.bytes(length))
        } else {
            inviteToken = nil
        }
        codeLookup = flags & 4 == 4 ? Array(try reader.bytes(Self.codeLookupBytes)) : nil
        hasMore = flags & 2 == 2
        conversations = try readConversations(from: &reader, limit: Self.maxConversationsPerFrame)
    }
}

/// `count, 32 bytes each, strictly ascending`.
private func writeConversations(_ conversations: [ConversationID], into writer: inout ByteWriter) {
    let sorted = Array(Set(conversations)).sorted()
    writer.write(varint: UInt64(sorted.count))
    for conversation in sorted { writer.write(bytes: conversation.bytes) }
}

private func readConversations(from reader: inout WireReader, limit: Int) throws(WireError) -> [ConversationID] {
    let count = try reader.count("conversations", limit: limit)
    var conversations: [ConversationID] = []
    conversations.reserveCapacity(count)
    for _ in 0 ..< count {
        let conversation = try reader.conversationID()
        guard conversations.last.map({ $0 < conversation }) ?? true else {
            throw .nonCanonical("conversations not ascending")
        }
        conversations.append(conversation)
    }
    return conversations
}

/// The frames of a session besides ``DataFrame``: the handshake, refusals, keep-alives, and the sealed
/// envelope that carries every frame once keys are agreed.
///
/// Same header as every frame (`"SC" version type length`); types 16–25. In the clear travel only
/// ``hello(_:)``, ``helloReply(_:)``, ``streamHeader(_:)``, ``sealed(_:)``, and a ``refuse(_:)`` sent
/// before this side has a stream. Inside the envelope is one whole frame: an ``identify(_:)``, a
/// ``request(_:)``, a ``welcome(conversations:)``, a ``resolved(sealedTokens:)``, a
/// ``ping(nonce:isReply:)``, a ``refuse(_:)`` or a ``DataFrame``.
public enum SessionFrame: Sendable, Hashable {
    /// The dialer's opening frame.
    case hello(SessionHello)
    /// The listener's answer, with the chosen version.
    case helloReply(SessionHelloReply)
    /// A side's stream header (random), sent in the clear just before its first sealed frame.
    case streamHeader([UInt8])
    /// A refusal or goodbye with its reason; the sender closes after it.
    case refuse(RefuseCode)
    /// A keep-alive; a ping that is not a reply is answered with the same nonce.
    case ping(nonce: UInt64, isReply: Bool)
    /// The listener's admission (sent sealed): the conversations the dialer may sync.
    case welcome(conversations: [ConversationID])
    /// An encrypted, authenticated frame.
    case sealed([UInt8])
    /// A side's long-term key and its transcript signature (sent sealed).
    case identify(SessionIdentity)
    /// The dialer's request (sent sealed): conversations and an invite token.
    case request(SessionRequest)
    /// The listener's answer to a request with a code lookup (sent sealed): the token of each
    /// link recorded with that lookup (one, unless someone copied a lookup), sealed under the
    /// code's secret, at most ``maxResolvedTokens``; the listener closes after it.
    case resolved(sealedTokens: [[UInt8]])

    /// The most sealed tokens one resolved frame carries.
    public static let maxResolvedTokens = 8

    /// Frame types, after ``DataFrame/FrameType``'s 1 to 7.
    public enum FrameType: UInt8, Sendable, CaseIterable {
        case hello = 16
        case helloReply = 17
        case streamHeader = 18
        case refuse = 19
        case ping = 20
        case welcome = 21
        case sealed = 22
        case identify = 23
        case request = 24
        case resolved = 25
    }

    /// This frame's type.
    public var frameType: FrameType {
        switch self {
        case .hello: .hello
        case .helloReply: .helloReply
        case .streamHeader: .streamHeader
        case .refuse: .refuse
        case .ping: .ping
        case .welcome: .welcome
        case .sealed: .sealed
        case .identify: .identify
        case .request: .request
        case .resolved: .resolved
        }
    }

    /// Whether `type` is one of the session frame types.
    public static func isSessionFrame(type: UInt8) -> Bool { FrameType(rawValue: type) != nil }

    /// The whole frame: header and body.
    /// - Complexity: O(size).
    public func encoded() -> [UInt8] {
        var body = ByteWriter()
        switch self {
        case .hello(let hello):
            hello.encode(into: &body)
        case .helloReply(let reply):
            body.write(varint: UInt64(reply.selectedVersion))
            body.write(bytes: reply.ephemeralKey)
            body.write(bytes: reply.nonce)
        case .streamHeader(let header):
            body.write(bytes: header)
        case .refuse(let code):
            body.write(byte: code.rawValue)
        case .ping(let nonce, let isReply):
            body.write(bigEndian: nonce)
            body.write(bool: isReply)
        case .welcome(let conversations):
            writeConversations(conversations, into: &body)
        case .sealed(let ciphertext):
            body.write(bytes: ciphertext)
        case .identify(let proof):
            body.write(bytes: proof.identity.bytes)
            body.write(bytes: proof.signature)
        case .request(let request):
            request.encode(into: &body)
        case .resolved(let tokens):
            body.write(varint: UInt64(tokens.count))
            for sealed in tokens {
                body.write(varint: UInt64(sealed.count))
                body.write(bytes: sealed)
            }
        }
        return FrameHeader(type: frameType.rawValue, length: body.bytes.count).bytes + body.bytes
    }

    /// Decodes a frame body of the given type; bounded, canonical, never traps.
    /// - Complexity: O(size).
    public init(type: UInt8, body: [UInt8], limits: WireLimits = .default) throws(WireError) {
        guard let frameType = FrameType(rawValue: type) else { throw .unknownKind(type) }
        guard body.count <= limits.maxFrameBytes else {
            throw .tooLarge(field: "frame", size: body.count, limit: limits.maxFrameBytes)
        }
        var reader = WireReader(body, limits: limits)
        switch frameType {
        case .hello:
            self = .hello(try SessionHello(from: &reader))
        case .helloReply:
            let raw = try reader.varint()
            guard raw > 0, raw <= UInt64(UInt16.max) else { throw .invalidValue("selected version \(raw)") }
            self = .helloReply(SessionHelloReply(
                selectedVersion: UInt16(raw), ephemeralKey: Array(try reader.bytes(SessionHello.ephemeralKeyBytes)),
                nonce: Array(try reader.bytes(SessionHello.nonceBytes))))
        case .streamHeader:
            self = .streamHeader(Array(try reader.bytes(SessionHelloReply.streamHeaderBytes)))
        case .refuse:
            self = .refuse(RefuseCode(rawValue: try reader.byte()))
        case .ping:
            let raw = Array(try reader.bytes(8))
            let nonce = raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .ping(nonce: nonce, isReply: try reader.bool("ping reply flag"))
        case .welcome:
            self = .welcome(conversations: try readConversations(from: &reader, limit: SessionRequest.maxConversations))
        case .sealed:
            guard body.count >= 17 else { throw .malformed(.truncated(offset: body.count)) }
            _ = try reader.bytes(body.count)
            self = .sealed(body)
        case .identify:
            let identity = try reader.replicaID()
            self = .identify(SessionIdentity(identity: identity, signature: Array(try reader.bytes(WireFormat.signatureBytes))))
        case .request:
            self = .request(try SessionRequest(from: &reader))
        case .resolved:
            let count = try reader.count("sealed tokens", limit: Self.maxResolvedTokens)
            guard count > 0 else { throw .invalidValue("no sealed token") }
            var tokens: [[UInt8]] = []
            for _ in 0 ..< count {
                let length = try reader.count("sealed token", limit: 2_048)
                guard length > 0 else { throw .invalidValue("empty sealed token") }
                tokens.append(Array(try reader.bytes(length)))
            }
            self = .resolved(sealedTokens: tokens)
        }
        guard reader.isAtEnd else { throw .trailingBytes(body.count - reader.offset) }
    }

    /// Decodes one whole frame (header and body) of a session type.
    /// - Complexity: O(size).
    public init(decoding frame: [UInt8], limits: WireLimits = .default) throws(WireError) {
        guard frame.count >= FrameHeader.byteCount else { throw .malformed(.truncated(offset: frame.count)) }
        let header = try FrameHeader(decoding: frame.prefix(FrameHeader.byteCount), limits: limits)
        let body = Array(frame.dropFirst(FrameHeader.byteCount))
        guard body.count >= header.length else { throw .malformed(.truncated(offset: frame.count)) }
        guard body.count == header.length else { throw .trailingBytes(body.count - header.length) }
        try self.init(type: header.type, body: body, limits: limits)
    }
}

/// The messages each side signs to prove its identity: the hello's and the hello reply's exact frame
/// bytes (so both ephemeral keys and nonces), the signer's role, and its stream header.
///
/// ```
/// "StreamingChat session v3" role(1: dialer, 2: listener)
/// hello: length varint, bytes | helloReply: length varint, bytes | streamHeader 24
/// ```
/// A signature made for one session, one role or one stream verifies for no other, so a party in the
/// middle that ran its own key exchange with each side cannot pass either side's proof on.
public enum SessionTranscript {
    /// The domain-separation prefix.
    public static let context: [UInt8] = Array("StreamingChat session v3".utf8)

    /// Which side signs.
    public enum Role: UInt8, Sendable {
        /// The side that sent the hello.
        case dialer = 1
        /// The side that sent the hello reply.
        case listener = 2
    }

    /// The bytes `role` signs, given the exact frames of the hello and the hello reply.
    /// - Complexity: O(size of both hellos).
    public static func authMessage(role: Role, hello: [UInt8], helloReply: [UInt8], streamHeader: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(capacity: context.count + hello.count + helloReply.count + 40)
        writer.write(bytes: context)
        writer.write(byte: role.rawValue)
        writer.write(varint: UInt64(hello.count))
        writer.write(bytes: hello)
        writer.write(varint: UInt64(helloReply.count))
        writer.write(bytes: helloReply)
        writer.write(bytes: streamHeader)
        return writer.bytes
    }
}
