import ChatCore

/// The on-disk layout of a ChatStore: database names, key layouts and value codecs.
///
/// Integers are big-endian so that LMDB's byte-wise key order is numeric order. See the
/// "Storage format" article for the full layout.
enum StoreSchema {
    /// The format this build writes. A store with another major version is refused; minor versions
    /// only add optional records and are read by every build of the same major version.
    /// 2.0: batches name their causal past by hash (protocol 5); batches of format 1 (protocol 4
    /// and older, with a vector clock) do not decode, so a 1.x store is refused.
    static let formatMajor: UInt16 = 2
    /// 1.1 added the optional `sessions` database (peer sessions for the audit trail), 1.2 the
    /// optional `addresses` database (where member nodes listen, for redialing after a restart);
    /// 2.0 has both.
    static let formatMinor: UInt16 = 0

    /// Database names.
    static let metaName = "meta"
    static let conversationsName = "conversations"
    static let batchesName = "batches"
    static let headsName = "heads"
    static let snapshotsName = "snapshots"
    static let forksName = "forks"
    static let metadataName = "metadata"
    /// Added in format 1.1; a store written by 1.0 gains it when first opened writable.
    static let sessionsName = "sessions"
    /// Added in format 1.2, like `sessions`.
    static let addressesName = "addresses"
    /// Address value: `version (1) ‖ port (UInt16) ‖ host (UTF-8, at most 255 bytes)`.
    static let addressValueVersion: UInt8 = 1

    /// The key of the format-version record in `meta`.
    static let formatKey = Array("format".utf8)

    static let idLength = 32
    static let hashLength = 32
    static let batchHeaderLength = 4 + hashLength
    static let headLength = 4 + hashLength
    static let statsLength = 16
    static let sessionKeyLength = idLength + 8
    /// Session value: `version (1) ‖ peer (32) ‖ connected (1) ‖ at (UInt64)`.
    static let sessionValueLength = 1 + idLength + 1 + 8
    static let sessionValueVersion: UInt8 = 1

    // MARK: Keys

    /// `conversation ‖ author`: the head key, and the prefix of an author's batches.
    static func authorKey(_ conversation: ConversationID, _ author: ReplicaID) -> [UInt8] {
        var key = conversation.bytes
        key.append(contentsOf: author.bytes)
        return key
    }

    /// `conversation ‖ author ‖ firstCounter`.
    static func batchKey(_ conversation: ConversationID, _ author: ReplicaID, _ counter: UInt32) -> [UInt8] {
        var key = authorKey(conversation, author)
        appendBigEndian(counter, to: &key)
        return key
    }

    /// `conversation ‖ author ‖ counter ‖ hash`.
    static func forkKey(
        _ conversation: ConversationID, _ author: ReplicaID, _ counter: UInt32, _ hash: [UInt8]
    ) -> [UInt8] {
        var key = batchKey(conversation, author, counter)
        key.append(contentsOf: hash)
        return key
    }

    /// `conversation ‖ sequence (UInt64)`: a session record's key; byte order is append order.
    static func sessionKey(_ conversation: ConversationID, _ sequence: UInt64) -> [UInt8] {
        var key = conversation.bytes
        key.reserveCapacity(sessionKeyLength)
        appendBigEndian(sequence, to: &key)
        return key
    }

    /// The sequence number of a session record's key, or nil when it is not one.
    static func parseSessionKey(_ key: [UInt8]) -> UInt64? {
        guard key.count == sessionKeyLength else { return nil }
        return readBigEndianUInt64(key, at: idLength)
    }

    /// Splits a batch key into its author and first counter.
    static func parseBatchKey(_ key: [UInt8]) -> (conversation: ConversationID, author: ReplicaID, counter: UInt32)? {
        guard key.count == 2 * idLength + 4,
              let conversation = ConversationID(bytes: key[0 ..< idLength]),
              let author = ReplicaID(bytes: key[idLength ..< 2 * idLength]),
              let counter = readBigEndianUInt32(key, at: 2 * idLength)
        else { return nil }
        return (conversation, author, counter)
    }

    /// Splits a fork key into its author, counter and hash.
    static func parseForkKey(_ key: [UInt8]) -> (author: ReplicaID, counter: UInt32, hash: [UInt8])? {
        guard key.count == 2 * idLength + 4 + hashLength,
              let author = ReplicaID(bytes: key[idLength ..< 2 * idLength]),
              let counter = readBigEndianUInt32(key, at: 2 * idLength)
        else { return nil }
        return (author, counter, Array(key[(2 * idLength + 4)...]))
    }

    /// The conversation in the first 32 bytes of any per-conversation key.
    static func conversation(ofKey key: [UInt8]) -> ConversationID? {
        guard key.count >= idLength else { return nil }
        return ConversationID(bytes: key[0 ..< idLength])
    }

    /// The author in bytes 32..<64 of a head key.
    static func parseHeadKey(_ key: [UInt8]) -> ReplicaID? {
        guard key.count == 2 * idLength else { return nil }
        return ReplicaID(bytes: key[idLength ..< 2 * idLength])
    }

    // MARK: Values

    /// Batch value: `opCount (UInt32) ‖ hash (32) ‖ batch bytes`.
    static func encodeBatchValue(opCount: UInt32, hash: [UInt8], bytes: [UInt8]) -> [UInt8] {
        var value: [UInt8] = []
        value.reserveCapacity(batchHeaderLength + bytes.count)
        appendBigEndian(opCount, to: &value)
        value.append(contentsOf: hash)
        value.append(contentsOf: bytes)
        return value
    }

    static func decodeBatchValue(_ value: [UInt8]) -> (opCount: UInt32, hash: [UInt8], bytes: [UInt8])? {
        guard value.count >= batchHeaderLength, let opCount = readBigEndianUInt32(value, at: 0) else { return nil }
        return (opCount, Array(value[4 ..< batchHeaderLength]), Array(value[batchHeaderLength...]))
    }

    /// Decodes a batch record from its key and value.
    static func decodeBatch(_ entry: LMDBEntry) -> BatchRecord? {
        guard let key = parseBatchKey(entry.key), let value = decodeBatchValue(entry.value) else { return nil }
        return BatchRecord(
            conversation: key.conversation, author: key.author, firstCounter: key.counter,
            opCount: value.opCount, hash: value.hash, bytes: value.bytes)
    }

    /// Fork evidence value: `opCount (UInt32) ‖ batch bytes` (the hash is in the key).
    static func encodeForkValue(opCount: UInt32, bytes: [UInt8]) -> [UInt8] {
        var value: [UInt8] = []
        value.reserveCapacity(4 + bytes.count)
        appendBigEndian(opCount, to: &value)
        value.append(contentsOf: bytes)
        return value
    }

    static func decodeFork(_ conversation: ConversationID, _ entry: LMDBEntry) -> BatchRecord? {
        guard let key = parseForkKey(entry.key), let opCount = readBigEndianUInt32(entry.value, at: 0) else {
            return nil
        }
        return BatchRecord(
            conversation: conversation, author: key.author, firstCounter: key.counter, opCount: opCount,
            hash: key.hash, bytes: Array(entry.value[4...]))
    }

    /// Head value: `nextCounter (UInt32) ‖ hash of the latest batch (32)`.
    static func encodeHead(nextCounter: UInt32, hash: [UInt8]) -> [UInt8] {
        var value: [UInt8] = []
        value.reserveCapacity(headLength)
        appendBigEndian(nextCounter, to: &value)
        value.append(contentsOf: hash)
        return value
    }

    static func decodeHead(_ value: [UInt8]) -> (nextCounter: UInt32, hash: [UInt8])? {
        guard value.count == headLength, let next = readBigEndianUInt32(value, at: 0) else { return nil }
        return (next, Array(value[4...]))
    }

    /// Conversation list value: `batchCount (UInt64) ‖ opCount (UInt64)` of the applied log.
    static func encodeStats(_ stats: ConversationStats) -> [UInt8] {
        var value: [UInt8] = []
        value.reserveCapacity(statsLength)
        appendBigEndian(stats.batchCount, to: &value)
        appendBigEndian(stats.opCount, to: &value)
        return value
    }

    static func decodeStats(_ value: [UInt8]) -> ConversationStats? {
        guard value.count == statsLength,
              let batches = readBigEndianUInt64(value, at: 0), let ops = readBigEndianUInt64(value, at: 8)
        else { return nil }
        return ConversationStats(batchCount: batches, opCount: ops)
    }

    /// Snapshot value: `entryCount (UInt32) ‖ (replica (32) ‖ count (UInt32))* ‖ snapshot bytes`,
    /// entries sorted by replica (canonical: one byte string per clock).
    static func encodeSnapshotValue(_ snapshot: Snapshot) -> [UInt8] {
        let entries = snapshot.clock.entries
        var value: [UInt8] = []
        value.reserveCapacity(4 + entries.count * (idLength + 4) + snapshot.bytes.count)
        appendBigEndian(UInt32(truncatingIfNeeded: entries.count), to: &value)
        for entry in entries {
            value.append(contentsOf: entry.replica.bytes)
            appendBigEndian(entry.count, to: &value)
        }
        value.append(contentsOf: snapshot.bytes)
        return value
    }

    static func decodeSnapshotValue(_ conversation: ConversationID, _ value: [UInt8]) -> Snapshot? {
        guard let count = readBigEndianUInt32(value, at: 0) else { return nil }
        let entryLength = idLength + 4
        // Bound the count by the bytes present before doing any arithmetic with it.
        guard UInt64(count) <= UInt64(value.count - 4) / UInt64(entryLength) else { return nil }
        var counts: [ReplicaID: UInt32] = [:]
        var offset = 4
        var previous: ReplicaID?
        for _ in 0 ..< Int(count) {
            guard let replica = ReplicaID(bytes: value[offset ..< offset + idLength]),
                  let entryCount = readBigEndianUInt32(value, at: offset + idLength)
            else { return nil }
            // Canonical: strictly increasing replicas, no zero entries.
            if let previous, !(previous < replica) { return nil }
            guard entryCount > 0 else { return nil }
            counts[replica] = entryCount
            previous = replica
            offset += entryLength
        }
        return Snapshot(conversation: conversation, clock: VectorClock(counts), bytes: Array(value[offset...]))
    }

    /// Session value: `version (1) ‖ peer (32) ‖ connected (0 or 1) ‖ at (UInt64, ms since the epoch)`.
    static func encodeSessionValue(_ session: PeerSessionRecord) -> [UInt8] {
        var value: [UInt8] = [sessionValueVersion]
        value.reserveCapacity(sessionValueLength)
        value.append(contentsOf: session.peer.bytes)
        value.append(session.connected ? 1 : 0)
        appendBigEndian(session.at, to: &value)
        return value
    }

    /// Decodes a session value; nil for another version, another length or a connected flag other
    /// than 0 or 1.
    static func decodeSessionValue(_ value: [UInt8]) -> PeerSessionRecord? {
        guard value.count == sessionValueLength, value[0] == sessionValueVersion,
              let peer = ReplicaID(bytes: value[1 ..< 1 + idLength]),
              let at = readBigEndianUInt64(value, at: 2 + idLength)
        else { return nil }
        let flag = value[1 + idLength]
        guard flag <= 1 else { return nil }
        return PeerSessionRecord(peer: peer, at: at, connected: flag == 1)
    }

    /// Format record value: `major (UInt16) ‖ minor (UInt16)`.
    static func encodeFormat(major: UInt16, minor: UInt16) -> [UInt8] {
        [UInt8(major >> 8), UInt8(major & 0xFF), UInt8(minor >> 8), UInt8(minor & 0xFF)]
    }

    static func decodeFormat(_ value: [UInt8]) -> (major: UInt16, minor: UInt16)? {
        guard value.count >= 4 else { return nil }
        return (UInt16(value[0]) << 8 | UInt16(value[1]), UInt16(value[2]) << 8 | UInt16(value[3]))
    }

    /// The smallest key greater than every key starting with `prefix`, or nil if there is none
    /// (the prefix is all 0xFF).
    static func successor(ofPrefix prefix: [UInt8]) -> [UInt8]? {
        var key = prefix
        while let last = key.last {
            if last < 0xFF {
                key[key.count - 1] = last + 1
                return key
            }
            key.removeLast()
        }
        return nil
    }
}

/// Per-conversation totals of the applied log, kept in the conversation list.
struct ConversationStats: Hashable {
    var batchCount: UInt64 = 0
    var opCount: UInt64 = 0
}

// MARK: Big-endian helpers

@inline(__always)
func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes.append(UInt8(truncatingIfNeeded: value >> 24))
    bytes.append(UInt8(truncatingIfNeeded: value >> 16))
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    bytes.append(UInt8(truncatingIfNeeded: value))
}

@inline(__always)
func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    for shift in stride(from: 56, through: 0, by: -8) {
        bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
}

/// The big-endian `UInt32` at `offset`, or nil if the bytes end first.
@inline(__always)
func readBigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32? {
    guard offset >= 0, bytes.count >= 4, offset <= bytes.count - 4 else { return nil }
    return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
        | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

/// The big-endian `UInt64` at `offset`, or nil if the bytes end first.
@inline(__always)
func readBigEndianUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64? {
    guard offset >= 0, bytes.count >= 8, offset <= bytes.count - 8 else { return nil }
    var value: UInt64 = 0
    for index in offset ..< offset + 8 { value = value << 8 | UInt64(bytes[index]) }
    return value
}
