import ChatCore
import Testing
@testable import ChatStore

/// The per-conversation log of peer sessions kept for the audit trail.
@Suite("ChatStore sessions")
struct SessionRecordTests {
    let conversation = conversationID(0xC1)
    let other = conversationID(0xC2)
    let ben = ReplicaID(testValue: 2), cat = ReplicaID(testValue: 3)

    func session(_ peer: ReplicaID, at: UInt64, connected: Bool) -> PeerSessionRecord {
        PeerSessionRecord(peer: peer, at: at, connected: connected)
    }

    @Test("records come back in time order, ties in append order, per conversation, after reopening")
    func appendReopenReadBack() throws {
        try withTemporaryDirectory { directory in
            let path = directory.child("store")
            let first = [
                session(ben, at: 1_000, connected: true), session(cat, at: 1_500, connected: true),
                // A wall clock that stepped back: stored after, read before.
                session(ben, at: 900, connected: false),
            ]
            let second = [session(cat, at: 1_500, connected: false), session(ben, at: 2_000, connected: true)]
            do {
                let store = try ChatStore(directory: path)
                #expect(try store.sessionRecords(of: conversation) == SessionRecordPage(records: [], skippedCount: 0))
                try store.appendSessionRecords(first.map { ConversationSessionRecord(conversation: conversation, session: $0) }
                    + [ConversationSessionRecord(conversation: other, session: first[0])])
                try store.appendSessionRecords(second.map { ConversationSessionRecord(conversation: conversation, session: $0) })
                try store.appendSessionRecords([])
            }
            let store = try ChatStore(directory: path)
            let page = try store.sessionRecords(of: conversation)
            #expect(page.skippedCount == 0)
            #expect(page.records == [first[2], first[0], first[1], second[0], second[1]])
            #expect(try store.sessionRecords(of: other).records == [first[0]])
            // The newest two appended, in time order.
            #expect(try store.sessionRecords(of: conversation, limit: 2).records == [second[0], second[1]])
            #expect(try store.sessionRecords(of: conversation, limit: 0).records == [])
            #expect(try store.sessionRecords(of: conversationID(0xC3)).records == [])
            // Session records are not log records: the conversation list and integrity ignore them.
            #expect(try store.conversations() == [])
            #expect(try store.checkIntegrity(verifying: verifyTestBatch).problems == [])
        }
    }

    @Test("each conversation keeps its newest N records, whether appended one by one or in a batch",
          arguments: [1, 3, 7])
    func retention(limit: Int) throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.child("store"),
                                      options: StoreOptions(sessionRecordsPerConversation: limit))
            var appended: [PeerSessionRecord] = []
            for index in 0 ..< 10 {
                let record = session(index.isMultiple(of: 2) ? ben : cat, at: UInt64(index) * 10, connected: index < 5)
                appended.append(record)
                try store.appendSessionRecords([ConversationSessionRecord(conversation: conversation, session: record)])
                #expect(try store.sessionRecords(of: conversation).records == Array(appended.suffix(limit)))
            }
            let batch = (10 ..< 25).map { session(ben, at: UInt64($0) * 10, connected: true) }
            try store.appendSessionRecords(
                batch.map { ConversationSessionRecord(conversation: conversation, session: $0) }
                    + [ConversationSessionRecord(conversation: other, session: batch[0])])
            appended += batch
            #expect(try store.sessionRecords(of: conversation).records == Array(appended.suffix(limit)))
            #expect(try store.sessionRecords(of: other).records == [batch[0]])
            let sessions = try #require(store.databases.sessions)
            let stored = try store.environment.read { txn throws(StoreError) in try txn.count(in: sessions) }
            #expect(stored == limit + 1)
        }
    }

    @Test("a retention limit below 1 is refused, writing nothing")
    func invalidLimit() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.child("store"),
                                      options: StoreOptions(sessionRecordsPerConversation: 0))
            #expect(throws: StoreError.self) {
                try store.appendSessionRecords([
                    ConversationSessionRecord(conversation: conversation, session: session(ben, at: 1, connected: true)),
                ])
            }
        }
    }

    @Test("values that do not decode are skipped and counted; appending goes on after them")
    func corruptValues() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.child("store"))
            let good = session(ben, at: 5_000, connected: true)
            try store.appendSessionRecords([ConversationSessionRecord(conversation: conversation, session: good)])
            let valid = StoreSchema.encodeSessionValue(session(cat, at: 6_000, connected: false))
            var unknownVersion = valid
            unknownVersion[0] = 2
            var badFlag = valid
            badFlag[1 + 32] = 2
            let corrupt: [[UInt8]] = [unknownVersion, badFlag, Array(valid.dropLast()), valid + [0], [], [1]]
            let sessions = try #require(store.databases.sessions)
            try store.environment.write { txn throws(StoreError) in
                for (index, value) in corrupt.enumerated() {
                    try txn.put(value, for: StoreSchema.sessionKey(conversation, UInt64(index) + 1), in: sessions)
                }
                // A key of the wrong length under the conversation's prefix.
                try txn.put(valid, for: conversation.bytes + [0xFF], in: sessions)
            }
            let page = try store.sessionRecords(of: conversation)
            #expect(page.records == [good])
            #expect(page.skippedCount == corrupt.count + 1)

            let later = session(cat, at: 7_000, connected: false)
            try store.appendSessionRecords([ConversationSessionRecord(conversation: conversation, session: later)])
            let after = try store.sessionRecords(of: conversation)
            #expect(after.records == [good, later])
            #expect(after.skippedCount == corrupt.count + 1)
        }
    }

    @Test("a store without the optional databases (sessions) opens read-only with none, and writable gains them")
    func formatOnePointZeroStore() throws {
        try withTemporaryDirectory { directory in
            let path = directory.path
            // Lay out by hand a store with only the seven required databases and a x.0 format record.
            do {
                let environment = try LMDBEnvironment(path: path)
                let names = [StoreSchema.metaName, StoreSchema.conversationsName, StoreSchema.batchesName,
                             StoreSchema.headsName, StoreSchema.snapshotsName, StoreSchema.forksName,
                             StoreSchema.metadataName]
                var meta: LMDBDatabase?
                for name in names {
                    let database = try environment.openDatabase(named: name)
                    if name == StoreSchema.metaName { meta = database }
                }
                let metaDatabase = try #require(meta)
                try environment.write { txn throws(StoreError) in
                    try txn.put(StoreSchema.encodeFormat(major: StoreSchema.formatMajor, minor: 0), for: StoreSchema.formatKey, in: metaDatabase)
                }
            }
            do {
                let readOnly = try ChatStore(directory: path, options: StoreOptions(readOnly: true))
                #expect(readOnly.databases.sessions == nil)
                #expect(try readOnly.sessionRecords(of: conversation).records == [])
                #expect(throws: StoreError.readOnly) {
                    try readOnly.appendSessionRecords([
                        ConversationSessionRecord(conversation: conversation, session: session(ben, at: 1, connected: true)),
                    ])
                }
            }
            let record = session(ben, at: 1, connected: true)
            do {
                let store = try ChatStore(directory: path)
                try store.appendSessionRecords([ConversationSessionRecord(conversation: conversation, session: record)])
                let format = try store.environment.read { txn throws(StoreError) in
                    try txn.get(StoreSchema.formatKey, in: store.databases.meta)
                }
                #expect(format.flatMap(StoreSchema.decodeFormat).map { [$0.major, $0.minor] } == [2, 0])
                #expect(store.databases.addresses != nil, "a writable open adds the addresses database too")
            }
            let readOnly = try ChatStore(directory: path, options: StoreOptions(readOnly: true))
            #expect(try readOnly.sessionRecords(of: conversation).records == [record])
        }
    }
}
