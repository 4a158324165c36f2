public import ChatCore

/// A peer session's start or end, filed under one conversation the session carried.
public struct ConversationSessionRecord: Sendable, Hashable {
    /// The conversation the record belongs to.
    public var conversation: ConversationID
    /// Who connected or disconnected, and when.
    public var session: PeerSessionRecord

    /// Creates a record.
    public init(conversation: ConversationID, session: PeerSessionRecord) {
        self.conversation = conversation
        self.session = session
    }
}

/// A conversation's stored peer-session records, as `ChatStore.sessionRecords(of:limit:)` reads them.
public struct SessionRecordPage: Sendable, Hashable {
    /// The records read, oldest first: by time, then by the order they were appended.
    public var records: [PeerSessionRecord]
    /// Stored records among those read that did not decode (another value version, a wrong length,
    /// a bad flag, a malformed key): skipped, not returned.
    public var skippedCount: Int

    /// Creates a page.
    public init(records: [PeerSessionRecord], skippedCount: Int) {
        self.records = records
        self.skippedCount = skippedCount
    }
}

extension ChatStore {
    /// Appends peer-session records, in one write transaction, each under its conversation after
    /// the ones stored before it; then, per conversation, deletes the oldest records beyond
    /// `options.sessionRecordsPerConversation`.
    ///
    /// The log is append-only: records are never changed, only dropped from the old end. Records
    /// of one conversation keep the order given, whatever their timestamps.
    /// - Throws: `StoreError.readOnly` on a read-only store, `StoreError.invalidArgument` when the
    ///   retention limit is below 1, or the LMDB error; nothing is written then.
    /// - Complexity: O((k + d) log n) for k records appended and d deleted, n stored in total.
    public func appendSessionRecords(_ records: [ConversationSessionRecord]) throws(StoreError) {
        guard !records.isEmpty else { return }
        guard !options.readOnly else { throw StoreError.readOnly }
        let limit = options.sessionRecordsPerConversation
        guard limit >= 1 else { throw StoreError.invalidArgument("sessionRecordsPerConversation must be at least 1") }
        guard let sessions = databases.sessions else { throw StoreError.readOnly }
        // Group by conversation in order of first appearance (never dictionary order).
        var order: [ConversationID] = []
        var grouped: [ConversationID: [PeerSessionRecord]] = [:]
        for record in records {
            if grouped[record.conversation] == nil { order.append(record.conversation) }
            grouped[record.conversation, default: []].append(record.session)
        }
        try environment.write { txn throws(StoreError) in
            for conversation in order {
                let added = grouped[conversation] ?? []
                var next = try Self.nextSessionSequence(conversation, in: sessions, txn: txn)
                for session in added {
                    try txn.put(
                        StoreSchema.encodeSessionValue(session), for: StoreSchema.sessionKey(conversation, next),
                        in: sessions, overwrite: false)
                    let (following, overflow) = next.addingReportingOverflow(1)
                    guard !overflow else {
                        throw StoreError.corruptRecord(database: StoreSchema.sessionsName, reason: "sequence exhausted")
                    }
                    next = following
                }
                // Keep the sequences in [next - limit, next): at most `limit` records.
                guard next > UInt64(limit) else { continue }
                let cutoff = next - UInt64(limit)
                var expired: [[UInt8]] = []
                try txn.forEach(in: sessions, withPrefix: conversation.bytes) { entry throws(StoreError) in
                    guard let sequence = StoreSchema.parseSessionKey(entry.key) else { return true }
                    guard sequence < cutoff else { return false }
                    expired.append(entry.key)
                    return true
                }
                for key in expired { try txn.delete(key, in: sessions) }
            }
        }
    }

    /// The newest `limit` peer-session records appended for `conversation` (by default all that
    /// are kept), oldest first by time, ties in append order. Records that no longer decode are
    /// skipped and counted, never trapped on.
    /// - Complexity: O(log n + m log m) for the m records read, n stored in total.
    public func sessionRecords(of conversation: ConversationID, limit: Int? = nil) throws(StoreError) -> SessionRecordPage {
        let limit = limit ?? options.sessionRecordsPerConversation
        guard limit > 0, let sessions = databases.sessions else { return SessionRecordPage(records: [], skippedCount: 0) }
        let prefix = conversation.bytes
        let (newestFirst, skipped) = try environment.read { txn throws(StoreError) in
            try txn.withCursor(on: sessions) { cursor throws(StoreError) -> ([PeerSessionRecord], Int) in
                var records: [PeerSessionRecord] = []
                var skipped = 0
                var visited = 0
                var entry = try cursor.seek(atOrBefore: Self.lastSessionKey(of: conversation))
                while let current = entry, current.key.starts(with: prefix), visited < limit {
                    visited += 1
                    if StoreSchema.parseSessionKey(current.key) != nil,
                       let record = StoreSchema.decodeSessionValue(current.value) {
                        records.append(record)
                    } else {
                        skipped += 1
                    }
                    entry = try cursor.previous()
                }
                return (records, skipped)
            }
        }
        // Append order, then a stable sort by time (a wall clock may step backwards).
        let records = newestFirst.reversed().enumerated()
            .sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            .map(\.element)
        return SessionRecordPage(records: records, skippedCount: skipped)
    }

    /// The sequence after the last stored record of `conversation` (0 when it has none), skipping
    /// malformed keys.
    private static func nextSessionSequence(
        _ conversation: ConversationID, in sessions: LMDBDatabase, txn: borrowing WriteTransaction
    ) throws(StoreError) -> UInt64 {
        let prefix = conversation.bytes
        return try txn.withCursor(on: sessions) { cursor throws(StoreError) -> UInt64 in
            var entry = try cursor.seek(atOrBefore: lastSessionKey(of: conversation))
            while let current = entry, current.key.starts(with: prefix) {
                if let sequence = StoreSchema.parseSessionKey(current.key) {
                    let (next, overflow) = sequence.addingReportingOverflow(1)
                    guard !overflow else {
                        throw StoreError.corruptRecord(database: StoreSchema.sessionsName, reason: "sequence exhausted")
                    }
                    return next
                }
                entry = try cursor.previous()
            }
            return 0
        }
    }

    /// The greatest possible session key of `conversation`.
    private static func lastSessionKey(of conversation: ConversationID) -> [UInt8] {
        StoreSchema.sessionKey(conversation, .max)
    }
}
