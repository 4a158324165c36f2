public import ChatCore

extension ChatStore {
    // MARK: Snapshots

    /// Stores `snapshot` as its conversation's snapshot, replacing the previous one.
    /// - Throws: `StoreError.snapshotAheadOfLog` when its clock covers ops not in the log.
    /// - Complexity: O(e log n) for e clock entries, plus the snapshot's size.
    public func saveSnapshot(_ snapshot: Snapshot) throws(StoreError) {
        try append([], snapshot: snapshot)
    }

    /// The latest snapshot of `conversation`, or nil.
    /// - Complexity: O(log n) plus the snapshot's size.
    public func snapshot(of conversation: ConversationID) throws(StoreError) -> Snapshot? {
        let databases = self.databases
        return try environment.read { txn throws(StoreError) -> Snapshot? in
            guard let value = try txn.get(conversation.bytes, in: databases.snapshots) else { return nil }
            guard let snapshot = StoreSchema.decodeSnapshotValue(conversation, value) else {
                throw StoreError.corruptRecord(database: StoreSchema.snapshotsName, reason: "malformed snapshot")
            }
            return snapshot
        }
    }

    // MARK: Fork evidence

    /// The conflicting batches kept as fork evidence in `conversation`, by author, counter, hash.
    /// - Complexity: O(f + log n) for f records, plus their size.
    public func forks(of conversation: ConversationID) throws(StoreError) -> [BatchRecord] {
        let databases = self.databases
        return try environment.read { txn throws(StoreError) -> [BatchRecord] in
            var records: [BatchRecord] = []
            try txn.forEach(in: databases.forks, withPrefix: conversation.bytes) { entry throws(StoreError) in
                guard let record = StoreSchema.decodeFork(conversation, entry) else {
                    throw StoreError.corruptRecord(database: StoreSchema.forksName, reason: "malformed fork evidence")
                }
                records.append(record)
                return true
            }
            return records
        }
    }

    // MARK: Metadata and the conversation list

    /// Stores opaque `bytes` (for example the genesis batch) as `conversation`'s metadata and adds the
    /// conversation to the list.
    /// - Complexity: O(log n) plus the size of `bytes`.
    public func setMetadata(_ bytes: [UInt8], for conversation: ConversationID) throws(StoreError) {
        let databases = self.databases
        try environment.write { txn throws(StoreError) in
            try txn.put(bytes, for: conversation.bytes, in: databases.metadata)
            var state = AppendState(databases: databases)
            try state.register(conversation, in: txn)
            try state.flush(in: &txn)
        }
    }

    /// The metadata stored for `conversation`, or nil.
    /// - Complexity: O(log n) plus the metadata's size.
    public func metadata(of conversation: ConversationID) throws(StoreError) -> [UInt8]? {
        let databases = self.databases
        return try environment.read { txn throws(StoreError) -> [UInt8]? in
            try txn.get(conversation.bytes, in: databases.metadata)
        }
    }

    /// Every conversation with stored batches, evidence, a snapshot or metadata, sorted by id.
    /// - Complexity: O(c) for c conversations.
    public func conversations() throws(StoreError) -> [ConversationID] {
        let databases = self.databases
        return try environment.read { txn throws(StoreError) -> [ConversationID] in
            var ids: [ConversationID] = []
            try txn.forEach(in: databases.conversations, withPrefix: []) { entry throws(StoreError) in
                guard let id = ConversationID(bytes: entry.key) else {
                    throw StoreError.corruptRecord(database: StoreSchema.conversationsName, reason: "malformed id")
                }
                ids.append(id)
                return true
            }
            return ids
        }
    }
}
