import ChatCore

extension ChatStore {
    /// Checks the whole store without changing it.
    ///
    /// For every conversation (listed, or found through its records) and every author, walks the
    /// stored batches in counter order and checks that:
    /// - counters are dense: the first batch starts at 0 and each next one at the previous
    ///   `firstCounter + opCount`;
    /// - `verifying(batch, previousHash)` accepts each batch, where `previousHash` is the hash in the
    ///   header of the author's previous stored batch (nil for the first). The verifier is where
    ///   signatures, `hash == H(bytes)` and the chain link live: so a changed header hash or changed
    ///   batch bytes are caught there, and the last batch's header hash is also checked against the
    ///   head here;
    /// - the head matches the last batch (next counter and hash), and no head lacks batches;
    /// - the conversation's maintained counts match, and the snapshot's clock is covered by the log.
    ///
    /// Each conversation is read in one read transaction (a consistent view); `verifying` runs inside
    /// it and must not call the store.
    /// - Complexity: O(n) in the stored records, plus their size and the verifier's cost.
    public func checkIntegrity(
        verifying: (BatchRecord, _ previousHash: [UInt8]?) -> Bool
    ) throws(StoreError) -> IntegrityReport {
        var problems: [IntegrityProblem] = []
        let databases = self.databases
        let (listed, found) = try environment.read { txn throws(StoreError) in
            var listed: Set<ConversationID> = []
            try txn.forEach(in: databases.conversations, withPrefix: []) { entry throws(StoreError) in
                if let id = ConversationID(bytes: entry.key), StoreSchema.decodeStats(entry.value) != nil {
                    listed.insert(id)
                } else {
                    problems.append(.malformedRecord(database: databases.conversations.name, key: entry.key))
                }
                return true
            }
            var found: Set<ConversationID> = []
            for database in [databases.batches, databases.heads, databases.snapshots, databases.forks, databases.metadata] {
                found.formUnion(try Self.distinctConversations(in: database, txn: txn, problems: &problems))
            }
            return (listed, found)
        }
        for conversation in found.subtracting(listed).sorted() {
            problems.append(.unlistedConversation(conversation))
        }
        var summaries: [IntegrityReport.ConversationSummary] = []
        for conversation in listed.union(found).sorted() {
            let summary = try environment.read { txn throws(StoreError) in
                try Self.check(conversation, databases: databases, txn: txn, verifying: verifying, problems: &problems)
            }
            summaries.append(summary)
        }
        return IntegrityReport(conversations: summaries, problems: problems)
    }

    /// The conversations that have keys in `database`, skipping from one conversation's keys to the
    /// next with a cursor seek.
    private static func distinctConversations(
        in database: LMDBDatabase, txn: borrowing ReadTransaction, problems: inout [IntegrityProblem]
    ) throws(StoreError) -> Set<ConversationID> {
        try txn.withCursor(on: database) { cursor throws(StoreError) -> Set<ConversationID> in
            var ids: Set<ConversationID> = []
            var entry = try cursor.first()
            while let current = entry {
                guard let id = StoreSchema.conversation(ofKey: current.key) else {
                    problems.append(.malformedRecord(database: database.name, key: current.key))
                    entry = try cursor.next()
                    continue
                }
                ids.insert(id)
                guard let next = StoreSchema.successor(ofPrefix: id.bytes) else { break }
                entry = try cursor.seek(atOrAfter: next)
            }
            return ids
        }
    }

    /// Checks one conversation inside one read transaction.
    private static func check(
        _ conversation: ConversationID, databases: Databases, txn: borrowing ReadTransaction,
        verifying: (BatchRecord, [UInt8]?) -> Bool, problems: inout [IntegrityProblem]
    ) throws(StoreError) -> IntegrityReport.ConversationSummary {
        // Heads first.
        var heads: [ReplicaID: (nextCounter: UInt32, hash: [UInt8])] = [:]
        try txn.forEach(in: databases.heads, withPrefix: conversation.bytes) { entry throws(StoreError) in
            if let author = StoreSchema.parseHeadKey(entry.key), let head = StoreSchema.decodeHead(entry.value) {
                heads[author] = head
            } else {
                problems.append(.malformedRecord(database: databases.heads.name, key: entry.key))
            }
            return true
        }

        // Then every author's batches, in key order: by author, then counter.
        var authors: [IntegrityReport.AuthorSummary] = []
        var walk: AuthorWalk?
        func finish(_ walk: AuthorWalk?) {
            guard let walk else { return }
            authors.append(IntegrityReport.AuthorSummary(
                author: walk.author, batchCount: walk.batchCount, opCount: walk.opCount))
            guard let head = heads[walk.author] else {
                problems.append(.missingHead(conversation, walk.author))
                return
            }
            if UInt64(head.nextCounter) != walk.expected {
                problems.append(.headCounterMismatch(
                    conversation, walk.author, head: head.nextCounter, log: UInt32(clamping: walk.expected)))
            }
            if head.hash != walk.previousHash {
                problems.append(.headHashMismatch(conversation, walk.author))
            }
        }
        try txn.forEach(in: databases.batches, withPrefix: conversation.bytes) { entry throws(StoreError) in
            guard let record = StoreSchema.decodeBatch(entry), record.opCount > 0 else {
                problems.append(.malformedRecord(database: databases.batches.name, key: entry.key))
                return true
            }
            if walk?.author != record.author {
                finish(walk)
                walk = AuthorWalk(author: record.author)
            }
            guard var current = walk else { return true }
            if UInt64(record.firstCounter) != current.expected {
                problems.append(.counterGap(
                    conversation, record.author, expected: UInt32(clamping: current.expected),
                    found: record.firstCounter))
            }
            if !verifying(record, current.previousHash) {
                problems.append(.verificationFailed(conversation, record.author, firstCounter: record.firstCounter))
            }
            current.expected = UInt64(record.firstCounter) + UInt64(record.opCount)
            current.previousHash = record.hash
            current.batchCount += 1
            current.opCount += UInt64(record.opCount)
            walk = current
            return true
        }
        finish(walk)
        let authorsWithBatches = Set(authors.map(\.author))
        for author in heads.keys.sorted() where !authorsWithBatches.contains(author) {
            problems.append(.headWithoutBatches(conversation, author))
        }

        // Maintained counts.
        let foundBatches = authors.reduce(UInt64(0)) { $0 + UInt64($1.batchCount) }
        let foundOps = authors.reduce(UInt64(0)) { $0 + $1.opCount }
        if let value = try txn.get(conversation.bytes, in: databases.conversations),
           let stats = StoreSchema.decodeStats(value),
           stats.batchCount != foundBatches || stats.opCount != foundOps {
            problems.append(.countMismatch(
                conversation, recordedBatches: stats.batchCount, foundBatches: foundBatches,
                recordedOps: stats.opCount, foundOps: foundOps))
        }

        // Snapshot.
        var hasSnapshot = false
        if let value = try txn.get(conversation.bytes, in: databases.snapshots) {
            hasSnapshot = true
            if let snapshot = StoreSchema.decodeSnapshotValue(conversation, value) {
                let covered = snapshot.clock.entries.allSatisfy { $0.count <= heads[$0.replica]?.nextCounter ?? 0 }
                if !covered { problems.append(.snapshotAheadOfLog(conversation)) }
            } else {
                problems.append(.malformedRecord(database: databases.snapshots.name, key: conversation.bytes))
            }
        }

        // Fork evidence.
        var forkCount = 0
        try txn.forEach(in: databases.forks, withPrefix: conversation.bytes) { entry throws(StoreError) in
            if StoreSchema.decodeFork(conversation, entry) == nil {
                problems.append(.malformedRecord(database: databases.forks.name, key: entry.key))
            } else {
                forkCount += 1
            }
            return true
        }

        return IntegrityReport.ConversationSummary(
            conversation: conversation, authors: authors, forkCount: forkCount, hasSnapshot: hasSnapshot)
    }
}

/// The integrity check's position in one author's batches.
private struct AuthorWalk {
    let author: ReplicaID
    /// The first counter the next batch must have.
    var expected: UInt64 = 0
    /// The hash in the previous batch's header.
    var previousHash: [UInt8]?
    var batchCount = 0
    var opCount: UInt64 = 0

    init(author: ReplicaID) { self.author = author }
}
