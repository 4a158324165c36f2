import ChatCore

/// A length-prefixed frame on a TCP stream: `"SC" version type length(4, big-endian) body`.
///
/// The header is checked before the body is read, so a peer cannot make us allocate more than
/// ``WireLimits/maxFrameBytes``.
public struct FrameHeader: Sendable, Hashable {
    public static let byteCount = 8
    public var type: UInt8
    public var length: Int

    public init(type: UInt8, length: Int) {
        self.type = type
        self.length = length
    }

    /// Decodes the 8 header bytes.
    public init(decoding bytes: some Collection<UInt8>, limits: WireLimits = .default) throws(WireError) {
        let header = Array(bytes)
        guard header.count == Self.byteCount else { throw .malformed(.truncated(offset: header.count)) }
        guard Array(header[0 ..< 2]) == WireFormat.magic else { throw .badMagic }
        guard header[2] == WireFormat.version else { throw .unknownVersion(header[2]) }
        let length = header[4 ..< 8].reduce(0) { $0 << 8 | Int($1) }
        guard length <= limits.maxFrameBytes else {
            throw .tooLarge(field: "frame", size: length, limit: limits.maxFrameBytes)
        }
        type = header[3]
        self.length = length
    }

    public var bytes: [UInt8] {
        WireFormat.magic + [WireFormat.version, type,
                            UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                            UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
    }
}

/// Where a replica can be reached: learnt from and passed on in `peers` frames.
///
/// On the wire: replica 32, host (varint byte length, then UTF-8), port varint.
public struct PeerAddress: Sendable, Hashable {
    /// The longest host accepted, in UTF-8 bytes (the longest DNS name).
    public static let maxHostBytes = 253

    /// The replica (its public key) expected to answer at the address.
    public let replica: ReplicaID
    /// A DNS name or an IP address literal: 1 to ``maxHostBytes`` UTF-8 bytes.
    public let host: String
    /// The TCP port, never 0.
    public let port: UInt16

    /// Creates an address, refusing what every receiver would refuse.
    /// - Throws: `.invalidValue` for an empty host or port 0, `.tooLarge` for a host over
    ///   ``maxHostBytes``.
    /// - Complexity: O(host length).
    public init(replica: ReplicaID, host: String, port: UInt16) throws(WireError) {
        let hostBytes = host.utf8.count
        guard hostBytes > 0 else { throw .invalidValue("empty peer host") }
        guard hostBytes <= Self.maxHostBytes else {
            throw .tooLarge(field: "peer host", size: hostBytes, limit: Self.maxHostBytes)
        }
        guard port != 0 else { throw .invalidValue("peer port 0") }
        self.replica = replica
        self.host = host
        self.port = port
    }
}

/// Frame bodies that carry conversation data. (Handshake and session frames are added with the
/// replication protocol.)
///
/// Every body starts with the conversation (32 bytes); then
/// ```
/// 1 batches:   count varint, then per batch: length varint, bytes
/// 2 clock:     count varint, then per entry (sorted by replica, counts > 0): replica 32, count varint
/// 3 ephemeral: count varint (≤ maxEphemeralPerFrame), then per update: length varint
///              (≤ SignedEphemeral.maxBytes), bytes
/// 4 peers:     count varint (≤ maxPeerAddresses), then per address: replica 32,
///              host length varint (1…253), UTF-8, port varint (1…65535)
/// 5 admission: length varint (≤ SignedAdmission.maxBytes), then a signed admission's bytes
/// 6 invitation: length varint (≤ maxTokenBytes), then a signed invite token's bytes
/// 7 admission refused: one byte, the ``RefuseCode``
/// 8 want: count (≤ maxWantsPerFrame), then (replica 32, count varint, hash 32) each
/// ```
public enum DataFrame: Sendable, Hashable {
    /// Signed batches of one conversation, each as its exact bytes.
    case batches(conversation: ConversationID, batches: [[UInt8]])
    /// A replica's vector clock for one conversation (what it has).
    case clock(conversation: ConversationID, clock: VectorClock)
    /// Signed ephemeral updates of one conversation, each as its exact bytes (a ``SignedEphemeral``'s
    /// `bytes`). The frame decoder checks only sizes; the receiver decodes and verifies each one.
    case ephemeral(conversation: ConversationID, updates: [[UInt8]])
    /// Peer exchange: addresses of replicas of one conversation, in the sender's order.
    case peers(conversation: ConversationID, addresses: [PeerAddress])
    /// A member admitted the receiver on its invite token, or vouched for its public join: the
    /// signed ``SignedAdmission`` bytes the receiver carries in its join. Empty: a non-member asks
    /// the receiver to vouch for its join to this public conversation. The frame decoder checks
    /// only the size.
    case admission(conversation: ConversationID, admission: [UInt8])
    /// A direct invitation for the receiver, to another conversation: the signed invite token's
    /// bytes. `conversation` is one the session carries (the invitation's own is in the token).
    case invitation(conversation: ConversationID, token: [UInt8])
    /// The member will not vouch for the token the receiver presented (it was admitted anyway,
    /// to a public conversation, with `view`): why, so its join can say so.
    case admissionRefused(conversation: ConversationID, reason: RefuseCode)
    /// Batches the sender lacks by hash although its clock covers their counters: dependencies of
    /// a batch it holds that name another branch of an author who forked. The receiver answers
    /// with a `batches` frame of those it stores.
    case want(conversation: ConversationID, dependencies: [BatchDependency])

    /// The most dependencies asked for in one `want` frame.
    public static let maxWantsPerFrame = 256

    /// The frame type byte of each case.
    public enum FrameType: UInt8 {
        case batches = 1
        case clock = 2
        case ephemeral = 3
        case peers = 4
        case admission = 5
        case invitation = 6
        case admissionRefused = 7
        case want = 8
    }

    /// The whole frame: header and body.
    public func encoded() -> [UInt8] {
        var body = ByteWriter()
        let type: FrameType
        switch self {
        case .batches(let conversation, let batches):
            type = .batches
            body.write(bytes: conversation.bytes)
            body.write(varint: UInt64(batches.count))
            for batch in batches {
                body.write(varint: UInt64(batch.count))
                body.write(bytes: batch)
            }
        case .clock(let conversation, let clock):
            type = .clock
            body.write(bytes: conversation.bytes)
            let entries = clock.entries
            body.write(varint: UInt64(entries.count))
            for entry in entries {
                body.write(bytes: entry.replica.bytes)
                body.write(varint: entry.count)
            }
        case .ephemeral(let conversation, let updates):
            type = .ephemeral
            body.write(bytes: conversation.bytes)
            body.write(varint: UInt64(updates.count))
            for update in updates {
                body.write(varint: UInt64(update.count))
                body.write(bytes: update)
            }
        case .peers(let conversation, let addresses):
            type = .peers
            body.write(bytes: conversation.bytes)
            body.write(varint: UInt64(addresses.count))
            for address in addresses {
                body.write(bytes: address.replica.bytes)
                body.write(string: address.host)
                body.write(varint: UInt64(address.port))
            }
        case .admission(let conversation, let admission):
            type = .admission
            body.write(bytes: conversation.bytes)
            body.write(varint: UInt64(admission.count))
            body.write(bytes: admission)
        case .invitation(let conversation, let token):
            type = .invitation
            body.write(bytes: conversation.bytes)
            body.write(varint: UInt64(token.count))
            body.write(bytes: token)
        case .admissionRefused(let conversation, let reason):
            type = .admissionRefused
            body.write(bytes: conversation.bytes)
            body.write(byte: reason.rawValue)
        case .want(let conversation, let dependencies):
            type = .want
            body.write(bytes: conversation.bytes)
            body.write(varint: UInt64(dependencies.count))
            for dependency in dependencies { dependency.encode(into: &body) }
        }
        return FrameHeader(type: type.rawValue, length: body.bytes.count).bytes + body.bytes
    }

    /// Decodes a frame body of the given type.
    ///
    /// Counts and lengths are checked against `limits` before anything is allocated.
    /// - Complexity: O(body size).
    public init(type: UInt8, body: [UInt8], limits: WireLimits = .default) throws(WireError) {
        guard let frameType = FrameType(rawValue: type) else { throw .unknownKind(type) }
        guard body.count <= limits.maxFrameBytes else {
            throw .tooLarge(field: "frame", size: body.count, limit: limits.maxFrameBytes)
        }
        var reader = WireReader(body, limits: limits)
        let conversation = try reader.conversationID()
        switch frameType {
        case .batches:
            let count = try reader.count("batches in frame", limit: limits.maxFrameBytes / 64)
            var batches: [[UInt8]] = []
            for _ in 0 ..< count {
                let length = try reader.count("batch", limit: limits.maxBatchBytes)
                batches.append(Array(try reader.bytes(length)))
            }
            self = .batches(conversation: conversation, batches: batches)
        case .clock:
            let count = try reader.count("clock", limit: limits.maxClockEntries)
            var clock = VectorClock()
            var previous: ReplicaID?
            for _ in 0 ..< count {
                let replica = try reader.replicaID()
                let value = try reader.varint32()
                guard previous.map({ $0 < replica }) ?? true, value > 0 else {
                    throw .nonCanonical("clock entries not sorted or zero")
                }
                clock[replica] = value
                previous = replica
            }
            self = .clock(conversation: conversation, clock: clock)
        case .ephemeral:
            let count = try reader.count("ephemeral updates in frame", limit: limits.maxEphemeralPerFrame)
            let maxUpdateBytes = min(SignedEphemeral.maxBytes, limits.maxFrameBytes)
            var updates: [[UInt8]] = []
            for _ in 0 ..< count {
                let length = try reader.count("ephemeral update", limit: maxUpdateBytes)
                updates.append(Array(try reader.bytes(length)))
            }
            self = .ephemeral(conversation: conversation, updates: updates)
        case .peers:
            let count = try reader.count("peer addresses in frame", limit: limits.maxPeerAddresses)
            var addresses: [PeerAddress] = []
            let maxHostBytes = min(PeerAddress.maxHostBytes, limits.maxStringBytes)
            for _ in 0 ..< count {
                let replica = try reader.replicaID()
                let host = try reader.string("peer host", limit: maxHostBytes)
                let port = try reader.varint()
                guard port <= UInt64(UInt16.max) else { throw .invalidValue("peer port \(port)") }
                addresses.append(try PeerAddress(replica: replica, host: host, port: UInt16(port)))
            }
            self = .peers(conversation: conversation, addresses: addresses)
        case .admission:
            let length = try reader.count("join admission", limit: SignedAdmission.maxBytes)
            self = .admission(conversation: conversation, admission: Array(try reader.bytes(length)))
        case .invitation:
            let length = try reader.count("invitation token", limit: limits.maxTokenBytes)
            self = .invitation(conversation: conversation, token: Array(try reader.bytes(length)))
        case .admissionRefused:
            self = .admissionRefused(conversation: conversation, reason: RefuseCode(rawValue: try reader.byte()))
        case .want:
            let count = try reader.count("wanted batches", limit: Self.maxWantsPerFrame)
            var dependencies: [BatchDependency] = []
            for _ in 0 ..< count { dependencies.append(try BatchDependency.decode(from: &reader)) }
            self = .want(conversation: conversation, dependencies: dependencies)
        }
        guard reader.isAtEnd else { throw .trailingBytes(body.count - reader.offset) }
    }
}
