import ChatCore
import ChatCrypto
import ChatWire

/// A LAN discovery beacon: "a node listening on TCP port `port` holds some conversations", without
/// saying which ones to anyone who does not already know them.
///
/// For each conversation it holds, the sender puts a 16-byte tag
/// `BLAKE2b-128(key: conversation id, message: domain ‖ nonce)` in the beacon, where `nonce` is 16
/// fresh random bytes per beacon. A receiver that knows a conversation id computes the same tag for
/// the beacon's nonce and finds it; an outsider sees only a port, a nonce and pseudo-random tags that
/// change with every beacon, so beacons cannot be linked to a conversation (or to each other by their
/// tags). What stays visible: the sender's address and TCP port, and how many tags the beacon carries.
///
/// ## Format (version 1, big-endian)
///
/// ```
/// magic "SCDB" (4) | version 0x01 (1) | tcp port ≠ 0 (2) | nonce (16) | tag count ≤ 64 (1) | tags (16 each)
/// ```
///
/// Tags are sorted byte-wise and strictly ascending (one canonical encoding; `Set` order never reaches
/// the wire). The largest beacon is 1048 bytes, under ``maximumByteCount`` (1200, one unfragmented
/// datagram on any common LAN).
public struct DiscoveryBeacon: Sendable, Hashable {
    /// The leading bytes, "SCDB".
    public static let magic: [UInt8] = [0x53, 0x43, 0x44, 0x42]
    /// The format version this build writes and reads.
    public static let version: UInt8 = 1
    /// The length of the nonce.
    public static let nonceByteCount = 16
    /// The length of one conversation tag.
    public static let tagByteCount = 16
    /// The most tags one beacon carries.
    public static let maximumTags = 64
    /// The largest datagram accepted as a beacon.
    public static let maximumByteCount = 1200
    /// Bytes before the tags: magic, version, port, nonce, count.
    static let headerByteCount = 4 + 1 + 2 + 16 + 1
    /// Domain separation for the tag: the conversation id is a key used for this purpose only here.
    static let tagDomain: [UInt8] = Array("StreamingChat discovery tag v1".utf8)

    /// The TCP port the sender listens on for sessions (never 0).
    public let port: UInt16
    /// The sender's fresh random nonce (16 bytes).
    public let nonce: [UInt8]
    /// The conversation tags, sorted and strictly ascending (at most ``maximumTags``).
    public let tags: [[UInt8]]

    /// A beacon from already computed tags; they are sorted here.
    ///
    /// - Throws: `WireError.invalidValue` for port 0, a nonce or tag of the wrong size or a repeated
    ///   tag; `WireError.tooLarge` for more than ``maximumTags`` tags.
    /// - Complexity: O(t log t) for t tags.
    public init(port: UInt16, nonce: [UInt8], tags: [[UInt8]]) throws(WireError) {
        guard port != 0 else { throw .invalidValue("discovery port 0") }
        guard nonce.count == Self.nonceByteCount else { throw .invalidValue("discovery nonce of \(nonce.count) bytes") }
        guard tags.count <= Self.maximumTags else {
            throw .tooLarge(field: "discovery tags", size: tags.count, limit: Self.maximumTags)
        }
        let sorted = tags.sorted { $0.lexicographicallyPrecedes($1) }
        for (index, tag) in sorted.enumerated() {
            guard tag.count == Self.tagByteCount else { throw .invalidValue("discovery tag of \(tag.count) bytes") }
            if index > 0, sorted[index - 1] == tag { throw .invalidValue("repeated discovery tag") }
        }
        self.port = port
        self.nonce = nonce
        self.tags = sorted
    }

    /// A beacon announcing `conversations` (duplicates collapse to one tag) under `nonce`.
    ///
    /// - Throws: as ``init(port:nonce:tags:)``; `tooLarge` for more than ``maximumTags`` distinct
    ///   conversations (a caller with more rotates through them, as ``DiscoveryStateMachine`` does).
    /// - Complexity: O(n · h + n log n) for n conversations, h one BLAKE2b over 46 bytes.
    public init(port: UInt16, nonce: [UInt8], conversations: some Sequence<ConversationID>) throws(WireError) {
        guard nonce.count == Self.nonceByteCount else { throw .invalidValue("discovery nonce of \(nonce.count) bytes") }
        var tags: [[UInt8]] = []
        for conversation in Set(conversations) {
            guard let tag = Self.tag(for: conversation, nonce: nonce) else {
                throw .invalidValue("discovery tag could not be computed")
            }
            tags.append(tag)
        }
        try self.init(port: port, nonce: nonce, tags: tags)
    }

    /// The tag of `conversation` under `nonce`: keyed BLAKE2b truncated to 16 bytes; nil only if the
    /// nonce is not 16 bytes.
    ///
    /// - Complexity: O(1) (one BLAKE2b block).
    public static func tag(for conversation: ConversationID, nonce: [UInt8]) -> [UInt8]? {
        guard nonce.count == nonceByteCount else { return nil }
        return Hashing.blake2b(tagDomain + nonce, key: conversation.bytes, length: tagByteCount)
    }

    /// The conversations among `candidates` that this beacon announces, sorted and without repeats.
    /// An empty result means the sender shares none of them (or did not announce them in this beacon).
    ///
    /// - Complexity: O(n · h + t) for n candidates and t tags, h one BLAKE2b.
    public func matching(_ candidates: some Sequence<ConversationID>) -> [ConversationID] {
        guard !tags.isEmpty else { return [] }
        let announced = Set(tags)
        var found: Set<ConversationID> = []
        for candidate in candidates where !found.contains(candidate) {
            if let tag = Self.tag(for: candidate, nonce: nonce), announced.contains(tag) { found.insert(candidate) }
        }
        return found.sorted()
    }

    /// The canonical encoding.
    ///
    /// - Complexity: O(t) for t tags.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.headerByteCount + tags.count * Self.tagByteCount)
        writer.write(bytes: Self.magic)
        writer.write(byte: Self.version)
        writer.write(byte: UInt8(truncatingIfNeeded: port >> 8))
        writer.write(byte: UInt8(truncatingIfNeeded: port))
        writer.write(bytes: nonce)
        // At most 64 tags: checked by every initialiser.
        writer.write(byte: UInt8(truncatingIfNeeded: tags.count))
        for tag in tags { writer.write(bytes: tag) }
        return writer.bytes
    }

    /// Decodes a beacon from untrusted datagram bytes. Never traps.
    ///
    /// - Throws: `tooLarge` over ``maximumByteCount`` bytes or ``maximumTags`` tags (checked before
    ///   anything is allocated), `badMagic`, `unknownVersion`, `malformed(.truncated)`,
    ///   `invalidValue` (port 0), `nonCanonical` (tags not strictly ascending), `trailingBytes`.
    /// - Complexity: O(b) in the datagram's length.
    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= Self.maximumByteCount else {
            throw .tooLarge(field: "discovery beacon", size: bytes.count, limit: Self.maximumByteCount)
        }
        guard bytes.starts(with: Self.magic) else {
            // A short prefix of the magic is a truncated beacon; anything else is not ours.
            throw Self.magic.starts(with: bytes) ? .malformed(.truncated(offset: bytes.count)) : .badMagic
        }
        var reader = ByteReader(bytes)
        let version: UInt8
        let port: UInt16
        let nonce: [UInt8]
        let count: Int
        do throws(BinaryDecodingError) {
            _ = try reader.readBytes(Self.magic.count)
            version = try reader.readByte()
            let high = try reader.readByte()
            let low = try reader.readByte()
            port = UInt16(high) << 8 | UInt16(low)
            nonce = Array(try reader.readBytes(Self.nonceByteCount))
            count = Int(try reader.readByte())
        } catch {
            // A later major version may lay out the rest differently: report the version if we got it.
            if bytes.count > Self.magic.count, bytes[Self.magic.count] != Self.version {
                throw .unknownVersion(bytes[Self.magic.count])
            }
            throw .malformed(error)
        }
        guard version == Self.version else { throw .unknownVersion(version) }
        guard port != 0 else { throw .invalidValue("discovery port 0") }
        guard count <= Self.maximumTags else {
            throw .tooLarge(field: "discovery tags", size: count, limit: Self.maximumTags)
        }
        guard reader.remaining >= count * Self.tagByteCount else {
            throw .malformed(.truncated(offset: bytes.count))
        }
        var tags: [[UInt8]] = []
        tags.reserveCapacity(count)
        for _ in 0 ..< count {
            let tag: [UInt8]
            do throws(BinaryDecodingError) {
                tag = Array(try reader.readBytes(Self.tagByteCount))
            } catch {
                throw .malformed(error)
            }
            if let previous = tags.last, !previous.lexicographicallyPrecedes(tag) {
                throw .nonCanonical("discovery tags not strictly ascending")
            }
            tags.append(tag)
        }
        guard reader.isAtEnd else { throw .trailingBytes(reader.remaining) }
        self.port = port
        self.nonce = nonce
        self.tags = tags
    }
}
