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

/// Frame bodies that carry conversation data. (Handshake and session frames are added with the
/// replication protocol.)
public enum DataFrame: Sendable, Hashable {
    /// Signed batches of one conversation, each as its exact bytes.
    case batches(conversation: ConversationID, batches: [[UInt8]])
    /// A replica's vector clock for one conversation (what it has).
    case clock(conversation: ConversationID, clock: VectorClock)

    public enum FrameType: UInt8 {
        case batches = 1
        case clock = 2
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
        }
        return FrameHeader(type: type.rawValue, length: body.bytes.count).bytes + body.bytes
    }

    /// Decodes a frame body of the given type.
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
        }
        guard reader.isAtEnd else { throw .trailingBytes(body.count - reader.offset) }
    }
}
