import ChatCore
import Testing
@testable import ChatStore

@Suite("ChatStore integrity check")
struct IntegrityTests {
    let conversation = conversationID(0xC1)
    let alice = ReplicaID(testValue: 1), bob = ReplicaID(testValue: 2)

    /// A store with alice's 10 batches of 3 ops and bob's 4 of 1, plus a snapshot; returns the batches.
    func populate(_ path: String, seed: UInt64) throws -> [BatchRecord] {
        print("integrity store seed \(seed)")
        var builder = ChainBuilder(conversation: conversation, seed: seed)
        var batches = (0 ..< 10).map { _ in builder.next(alice, opCount: 3) }
        batches += (0 ..< 4).map { _ in builder.next(bob, opCount: 1) }
        let store = try ChatStore(directory: path)
        try store.append(batches, snapshot: Snapshot(conversation: conversation, clock: builder.clock, bytes: [1, 2]))
        try store.setMetadata([7], for: conversation)
        return batches
    }

    /// Opens the raw environment of a closed store and runs `body` in a write transaction.
    func tamper(_ path: String, _ body: (inout WriteTransaction, LMDBDatabase, LMDBDatabase) throws(StoreError) -> Void) throws {
        let environment = try LMDBEnvironment(path: path)
        let batches = try environment.openDatabase(named: StoreSchema.batchesName, create: false)
        let heads = try environment.openDatabase(named: StoreSchema.headsName, create: false)
        try environment.write { txn throws(StoreError) in try body(&txn, batches, heads) }
    }

    @Test("a good store passes, with per-author batch and op counts")
    func goodStore() throws {
        try withTemporaryDirectory { directory in
            _ = try populate(directory.path, seed: 21)
            let store = try ChatStore(directory: directory.path)
            var previousHashes: [[UInt8]?] = []
            let report = try store.checkIntegrity { record, previous in
                previousHashes.append(previous)
                return verifyTestBatch(record, previous)
            }
            #expect(report.ok, "\(report.problems)")
            #expect(report.conversations.count == 1)
            let summary = try #require(report.conversations.first)
            #expect(summary.authors.map(\.author) == [alice, bob])
            #expect(summary.authors.map(\.batchCount) == [10, 4])
            #expect(summary.authors.map(\.opCount) == [30, 4])
            #expect(summary.hasSnapshot)
            #expect(summary.forkCount == 0)
            #expect(previousHashes.count == 14)
            #expect(previousHashes.filter { $0 == nil }.count == 2)  // one chain start per author
            #expect(report.description == "ok: 1 conversations, 14 batches, 34 ops")
        }
    }

    @Test("fork evidence does not disturb the check and is counted")
    func forksCounted() throws {
        try withTemporaryDirectory { directory in
            let batches = try populate(directory.path, seed: 22)
            let store = try ChatStore(directory: directory.path)
            let conflicting = makeBatch(
                conversation: conversation, author: alice, firstCounter: 3, opCount: 3,
                previousHash: batches[0].hash, payload: [9])
            #expect(try store.append([conflicting]).outcomes == [.fork])
            let report = try store.checkIntegrity(verifying: verifyTestBatch)
            #expect(report.ok)
            #expect(report.conversations.first?.forkCount == 1)
        }
    }

    @Test("a tampered batch value is reported by the verifier")
    func tamperedBytes() throws {
        try withTemporaryDirectory { directory in
            let batches = try populate(directory.path, seed: 23)
            let target = batches[4]
            try tamper(directory.path) { txn, batchesDB, _ throws(StoreError) in
                let key = StoreSchema.batchKey(conversation, alice, target.firstCounter)
                guard var value = try txn.get(key, in: batchesDB) else { throw StoreError.notFound }
                value[value.count - 1] ^= 0x01  // flip one bit of the signed bytes
                try txn.put(value, for: key, in: batchesDB)
            }
            let store = try ChatStore(directory: directory.path)
            let report = try store.checkIntegrity(verifying: verifyTestBatch)
            #expect(!report.ok)
            #expect(report.problems == [.verificationFailed(conversation, alice, firstCounter: target.firstCounter)])
            #expect(report.problems.first?.code == "integrity.verificationFailed")
        }
    }

    @Test("a changed header hash of the last batch is caught by the head and by the verifier")
    func tamperedHeaderHash() throws {
        try withTemporaryDirectory { directory in
            let batches = try populate(directory.path, seed: 24)
            let last = batches[13]
            try tamper(directory.path) { txn, batchesDB, _ throws(StoreError) in
                let key = StoreSchema.batchKey(conversation, bob, last.firstCounter)
                guard var value = try txn.get(key, in: batchesDB) else { throw StoreError.notFound }
                value[4] ^= 0xFF  // first byte of the header hash
                try txn.put(value, for: key, in: batchesDB)
            }
            let report = try ChatStore(directory: directory.path).checkIntegrity(verifying: verifyTestBatch)
            #expect(Set(report.problems) == [
                .verificationFailed(conversation, bob, firstCounter: last.firstCounter),
                .headHashMismatch(conversation, bob),
            ])
        }
    }

    @Test("a missing batch is reported as a counter gap")
    func missingBatch() throws {
        try withTemporaryDirectory { directory in
            let batches = try populate(directory.path, seed: 25)
            let missing = batches[6]
            try tamper(directory.path) { txn, batchesDB, _ throws(StoreError) in
                let deleted = try txn.delete(StoreSchema.batchKey(conversation, alice, missing.firstCounter), in: batchesDB)
                #expect(deleted)
            }
            let report = try ChatStore(directory: directory.path).checkIntegrity(verifying: verifyTestBatch)
            #expect(!report.ok)
            #expect(report.problems.contains(.counterGap(conversation, alice, expected: 18, found: 21)))
            // The batch after the hole no longer chains to its predecessor's hash either.
            #expect(report.problems.contains(.verificationFailed(conversation, alice, firstCounter: 21)))
            #expect(report.problems.contains(
                .countMismatch(conversation, recordedBatches: 14, foundBatches: 13, recordedOps: 34, foundOps: 31)))
            #expect(report.conversations.first?.authors.first?.batchCount == 9)
        }
    }

    @Test("a head that disagrees with the log, a head without batches and a missing head are reported")
    func headProblems() throws {
        try withTemporaryDirectory { directory in
            _ = try populate(directory.path, seed: 26)
            let carol = ReplicaID(testValue: 3)
            try tamper(directory.path) { txn, _, headsDB throws(StoreError) in
                let aliceKey = StoreSchema.authorKey(conversation, alice)
                guard let value = try txn.get(aliceKey, in: headsDB),
                      let head = StoreSchema.decodeHead(value) else { throw StoreError.notFound }
                try txn.put(StoreSchema.encodeHead(nextCounter: 31, hash: head.hash), for: aliceKey, in: headsDB)
                try txn.delete(StoreSchema.authorKey(conversation, bob), in: headsDB)
                try txn.put(StoreSchema.encodeHead(nextCounter: 1, hash: head.hash),
                            for: StoreSchema.authorKey(conversation, carol), in: headsDB)
            }
            let report = try ChatStore(directory: directory.path).checkIntegrity(verifying: verifyTestBatch)
            #expect(Set(report.problems) == [
                .headCounterMismatch(conversation, alice, head: 31, log: 30),
                .missingHead(conversation, bob),
                .headWithoutBatches(conversation, carol),
                .snapshotAheadOfLog(conversation),  // the snapshot covers bob's ops, now without a head
            ])
        }
    }

    @Test("records of a conversation missing from the list are found and checked")
    func unlistedConversation() throws {
        try withTemporaryDirectory { directory in
            let batches = try populate(directory.path, seed: 27)
            do {
                let environment = try LMDBEnvironment(path: directory.path)
                let list = try environment.openDatabase(named: StoreSchema.conversationsName, create: false)
                try environment.write { txn throws(StoreError) in _ = try txn.delete(conversation.bytes, in: list) }
            }
            let store = try ChatStore(directory: directory.path)
            #expect(try store.conversations() == [])
            let report = try store.checkIntegrity(verifying: verifyTestBatch)
            #expect(report.problems == [.unlistedConversation(conversation)])
            #expect(report.conversations.first?.batchCount == batches.count)
        }
    }
}
