public import ChatCore

extension ChatStore {
    // MARK: Appending

    /// Appends a group of batches (any conversations, any authors) and optionally a snapshot in ONE
    /// write transaction: one commit, one fsync for the whole group.
    ///
    /// Batches are considered in order, each seeing the effect of the ones before it, so a run of one
    /// author's consecutive batches can be appended in a single call. For each batch:
    /// - same key (conversation, author, first counter) and same hash as a stored batch → `.duplicate`,
    ///   skipped (appending a batch twice has no effect);
    /// - same key with a different hash, or counters overlapping the author's stored ones →
    ///   `.fork`: kept as fork evidence, never applied, head unchanged;
    /// - `firstCounter` above the author's next counter → `.gap`: rejected (order batches first);
    /// - malformed (no ops, hash not 32 bytes, counters past `UInt32.max`) → `.invalid`;
    /// - otherwise `.stored`, and the author's head advances to `firstCounter + opCount`.
    ///
    /// Durability: when this returns, every `.stored` batch and the snapshot are on disk (the commit
    /// succeeded, LMDB's synchronous mode). When it throws, nothing of the call was written.
    ///
    /// - Parameters:
    ///   - evidence: batches the caller's verifier found conflicting (for example a chain fork: the
    ///     right counter but another previous hash), kept as fork evidence in the same transaction.
    ///   - snapshot: stored after the batches, replacing the conversation's previous snapshot;
    ///     its clock must be covered by the log, including this call's batches.
    /// - Throws: `StoreError.snapshotAheadOfLog`, `StoreError.invalidArgument` for evidence whose
    ///   hash is not 32 bytes, `StoreError.readOnly`, or the LMDB error.
    /// - Complexity: O(b log n) for b batches in a store of n records, plus the bytes written.
    @discardableResult
    public func append(
        _ batches: [BatchRecord], evidence: [BatchRecord] = [], snapshot: Snapshot? = nil
    ) throws(StoreError) -> AppendResult {
        if batches.isEmpty && evidence.isEmpty && snapshot == nil { return AppendResult(outcomes: []) }
        let databases = self.databases
        return try environment.write { txn throws(StoreError) -> AppendResult in
            var state = AppendState(databases: databases)
            var outcomes: [BatchOutcome] = []
            outcomes.reserveCapacity(batches.count)
            for batch in batches {
                outcomes.append(try state.apply(batch, in: &txn))
            }
            for record in evidence {
                try state.recordEvidence(record, in: &txn)
            }
            if let snapshot {
                try state.save(snapshot, in: &txn)
            }
            try state.flush(in: &txn)
            return AppendResult(outcomes: outcomes)
        }
    }

    /// Keeps `records` as fork evidence (never applied, heads unchanged), in one transaction: for
    /// conflicts the store cannot see itself, such as a batch at the right counter whose previous
    /// hash is not the head's. Durable when this returns.
    /// - Throws: `StoreError.invalidArgument` for a hash that is not 32 bytes, `StoreError.readOnly`,
    ///   or the LMDB error.
    /// - Complexity: O(r log n) for r records, plus the bytes written.
    public func recordEvidence(_ records: [BatchRecord]) throws(StoreError) {
        try append([], evidence: records)
    }

    // MARK: Reading the log

    /// Every author's head in `conversation`: one past the counter of their latest stored op, and the
    /// hash of their latest stored batch.
    /// - Complexity: O(a + log n) for a authors.
    public func heads(of conversation: ConversationID) throws(StoreError) -> [ReplicaID: (nextCounter: UInt32, hash: [UInt8])] {
        let databases = self.databases
        return try environment.read { txn throws(StoreError) in
            var heads: [ReplicaID: (nextCounter: UInt32, hash: [UInt8])] = [:]
            try txn.forEach(in: databases.heads, withPrefix: conversation.bytes) { entry throws(StoreError) in
                guard let author = StoreSchema.parseHeadKey(entry.key),
                      let head = StoreSchema.decodeHead(entry.value)
                else { throw StoreError.corruptRecord(database: StoreSchema.headsName, reason: "malformed head") }
                heads[author] = head
                return true
            }
            return heads
        }
    }

    /// The vector clock of the stored log of `conversation`, derived from the heads.
    /// - Complexity: O(a + log n) for a authors.
    public func clock(of conversation: ConversationID) throws(StoreError) -> VectorClock {
        VectorClock(try heads(of: conversation).mapValues(\.nextCounter))
    }

    /// The stored batch of `author` in `conversation` that holds the op with counter `counter`.
    /// - Complexity: O(log n) plus the batch's size.
    public func batch(
        _ conversation: ConversationID, author: ReplicaID, containing counter: UInt32
    ) throws(StoreError) -> BatchRecord? {
        let databases = self.databases
        let prefix = StoreSchema.authorKey(conversation, author)
        let key = StoreSchema.batchKey(conversation, author, counter)
        return try environment.read { txn throws(StoreError) -> BatchRecord? in
            try txn.withCursor(on: databases.batches) { cursor throws(StoreError) -> BatchRecord? in
                guard let entry = try cursor.seek(atOrBefore: key), entry.key.starts(with: prefix) else { return nil }
                let record = try Self.decodeBatch(entry)
                return record.contains(counter: counter) ? record : nil
            }
        }
    }

    /// Up to `limit` stored batches of `author` in `conversation`, in counter order, starting with the
    /// batch holding `counter` (or the first batch after it): what a peer whose clock has `counter`
    /// for this author lacks.
    /// - Complexity: O(log n + k) for k batches returned, plus their size.
    public func batches(
        _ conversation: ConversationID, author: ReplicaID, from counter: UInt32, limit: Int
    ) throws(StoreError) -> [BatchRecord] {
        guard limit > 0 else { return [] }
        let databases = self.databases
        let prefix = StoreSchema.authorKey(conversation, author)
        let key = StoreSchema.batchKey(conversation, author, counter)
        return try environment.read { txn throws(StoreError) -> [BatchRecord] in
            try txn.withCursor(on: databases.batches) { cursor throws(StoreError) -> [BatchRecord] in
                var records: [BatchRecord] = []
                var entry = try cursor.seek(atOrBefore: key)
                if let floor = entry, floor.key.starts(with: prefix),
                   try Self.decodeBatch(floor).contains(counter: counter) {
                    // Start with the batch holding `counter`.
                } else {
                    entry = try cursor.seek(atOrAfter: key)
                }
                while let current = entry, current.key.starts(with: prefix), records.count < limit {
                    records.append(try Self.decodeBatch(current))
                    entry = try cursor.next()
                }
                return records
            }
        }
    }

    /// Calls `body` with every stored batch of `conversation`, ordered by author, then counter.
    ///
    /// Reads in pages of `pageSize` batches, each in its own short read transaction, and calls `body`
    /// outside any transaction, so `body` may call the store (even `append`). Batches appended while
    /// iterating may or may not be visited; none is visited twice.
    /// - Complexity: O(n) for n batches of the conversation, plus their size.
    public func forEachBatch(
        _ conversation: ConversationID, pageSize: Int = 256, _ body: (BatchRecord) throws(StoreError) -> Void
    ) throws(StoreError) {
        let databases = self.databases
        let pageSize = max(1, pageSize)
        var resume: [UInt8]? = nil
        while true {
            let start = resume
            let page = try environment.read { txn throws(StoreError) -> [LMDBEntry] in
                var page: [LMDBEntry] = []
                try txn.forEach(in: databases.batches, withPrefix: conversation.bytes, from: start) { entry in
                    page.append(entry)
                    return page.count < pageSize
                }
                return page
            }
            for entry in page {
                try body(try Self.decodeBatch(entry))
            }
            guard page.count == pageSize, let last = page.last else { return }
            resume = last.key + [0]  // the smallest key after `last`
        }
    }

    /// The number of batches stored (applied) in `conversation`.
    /// - Complexity: O(log n): the count is maintained by `append`.
    public func batchCount(_ conversation: ConversationID) throws(StoreError) -> Int {
        Int(clamping: try statistics(of: conversation).batchCount)
    }

    /// The number of ops in the stored batches of `conversation`.
    /// - Complexity: O(log n): the count is maintained by `append`.
    public func opCount(_ conversation: ConversationID) throws(StoreError) -> Int {
        Int(clamping: try statistics(of: conversation).opCount)
    }

    func statistics(of conversation: ConversationID) throws(StoreError) -> ConversationStats {
        let databases = self.databases
        return try environment.read { txn throws(StoreError) -> ConversationStats in
            guard let value = try txn.get(conversation.bytes, in: databases.conversations) else {
                return ConversationStats()
            }
            guard let stats = StoreSchema.decodeStats(value) else {
                throw StoreError.corruptRecord(database: StoreSchema.conversationsName, reason: "malformed counts")
            }
            return stats
        }
    }

    static func decodeBatch(_ entry: LMDBEntry) throws(StoreError) -> BatchRecord {
        guard let record = StoreSchema.decodeBatch(entry) else {
            throw StoreError.corruptRecord(database: StoreSchema.batchesName, reason: "malformed batch record")
        }
        return record
    }
}

/// The work of one `append` transaction: heads and conversation counts are cached and written once.
struct AppendState {
    let databases: ChatStore.Databases
    /// Heads read or changed in this transaction, by `conversation ‖ author`; nil: no head yet.
    private var heads: [[UInt8]: (nextCounter: UInt32, hash: [UInt8])?] = [:]
    private var dirtyHeads: Set<[UInt8]> = []
    /// Conversation counts read or changed in this transaction.
    private var stats: [ConversationID: ConversationStats] = [:]
    private var dirtyConversations: Set<ConversationID> = []

    init(databases: ChatStore.Databases) {
        self.databases = databases
    }

    mutating func apply(_ batch: BatchRecord, in txn: inout WriteTransaction) throws(StoreError) -> BatchOutcome {
        guard batch.opCount > 0 else { return .invalid(reason: "the batch has no ops") }
        guard batch.hash.count == StoreSchema.hashLength else { return .invalid(reason: "the hash is not 32 bytes") }
        guard let end = batch.endCounter else { return .invalid(reason: "the counters overflow UInt32") }

        let key = StoreSchema.batchKey(batch.conversation, batch.author, batch.firstCounter)
        if let existing = try txn.get(key, in: databases.batches) {
            guard let stored = StoreSchema.decodeBatchValue(existing) else {
                throw StoreError.corruptRecord(database: StoreSchema.batchesName, reason: "malformed batch record")
            }
            if stored.hash == batch.hash { return .duplicate }
            try keepForkEvidence(batch, in: &txn)
            return .fork
        }
        let authorKey = StoreSchema.authorKey(batch.conversation, batch.author)
        let next = try head(authorKey, in: txn)?.nextCounter ?? 0
        if batch.firstCounter < next {
            // Overlaps stored counters under another split: the author signed conflicting batches.
            try keepForkEvidence(batch, in: &txn)
            return .fork
        }
        if batch.firstCounter > next { return .gap(expected: next) }

        try txn.put(
            StoreSchema.encodeBatchValue(opCount: batch.opCount, hash: batch.hash, bytes: batch.bytes),
            for: key, in: databases.batches)
        heads[authorKey] = (end, batch.hash)
        dirtyHeads.insert(authorKey)
        var counts = try statistics(batch.conversation, in: txn)
        counts.batchCount &+= 1
        counts.opCount &+= UInt64(batch.opCount)
        stats[batch.conversation] = counts
        dirtyConversations.insert(batch.conversation)
        return .stored
    }

    /// Stores `snapshot` after checking its clock is covered by the log as this transaction sees it.
    mutating func save(_ snapshot: Snapshot, in txn: inout WriteTransaction) throws(StoreError) {
        for entry in snapshot.clock.entries {
            let next = try head(StoreSchema.authorKey(snapshot.conversation, entry.replica), in: txn)?.nextCounter ?? 0
            guard entry.count <= next else { throw StoreError.snapshotAheadOfLog }
        }
        try txn.put(StoreSchema.encodeSnapshotValue(snapshot), for: snapshot.conversation.bytes, in: databases.snapshots)
        try register(snapshot.conversation, in: txn)
    }

    /// Makes sure `conversation` is in the conversation list when the transaction commits.
    mutating func register(_ conversation: ConversationID, in txn: borrowing WriteTransaction) throws(StoreError) {
        stats[conversation] = try statistics(conversation, in: txn)
        dirtyConversations.insert(conversation)
    }

    /// Writes the changed heads and conversation counts.
    mutating func flush(in txn: inout WriteTransaction) throws(StoreError) {
        for key in dirtyHeads {
            guard let cached = heads[key], let head = cached else { continue }
            try txn.put(StoreSchema.encodeHead(nextCounter: head.nextCounter, hash: head.hash), for: key, in: databases.heads)
        }
        for conversation in dirtyConversations {
            try txn.put(StoreSchema.encodeStats(stats[conversation] ?? ConversationStats()),
                        for: conversation.bytes, in: databases.conversations)
        }
        dirtyHeads.removeAll()
        dirtyConversations.removeAll()
    }

    /// Keeps a batch the caller found conflicting as fork evidence.
    mutating func recordEvidence(_ batch: BatchRecord, in txn: inout WriteTransaction) throws(StoreError) {
        guard batch.hash.count == StoreSchema.hashLength else {
            throw StoreError.invalidArgument("fork evidence needs a 32-byte hash")
        }
        try keepForkEvidence(batch, in: &txn)
    }

    private mutating func keepForkEvidence(_ batch: BatchRecord, in txn: inout WriteTransaction) throws(StoreError) {
        try txn.put(
            StoreSchema.encodeForkValue(opCount: batch.opCount, bytes: batch.bytes),
            for: StoreSchema.forkKey(batch.conversation, batch.author, batch.firstCounter, batch.hash),
            in: databases.forks)
        try register(batch.conversation, in: txn)
    }

    private mutating func head(
        _ authorKey: [UInt8], in txn: borrowing WriteTransaction
    ) throws(StoreError) -> (nextCounter: UInt32, hash: [UInt8])? {
        if let cached = heads[authorKey] { return cached }
        var head: (nextCounter: UInt32, hash: [UInt8])?
        if let value = try txn.get(authorKey, in: databases.heads) {
            guard let decoded = StoreSchema.decodeHead(value) else {
                throw StoreError.corruptRecord(database: StoreSchema.headsName, reason: "malformed head")
            }
            head = decoded
        }
        heads[authorKey] = .some(head)
        return head
    }

    private mutating func statistics(
        _ conversation: ConversationID, in txn: borrowing WriteTransaction
    ) throws(StoreError) -> ConversationStats {
        if let cached = stats[conversation] { return cached }
        guard let value = try txn.get(conversation.bytes, in: databases.conversations) else {
            return ConversationStats()
        }
        guard let decoded = StoreSchema.decodeStats(value) else {
            throw StoreError.corruptRecord(database: StoreSchema.conversationsName, reason: "malformed counts")
        }
        return decoded
    }
}
