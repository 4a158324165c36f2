import ChatCore
import Foundation
import Testing
@testable import ChatStore

@Suite("ChatStore")
struct ChatStoreTests {
    let conversation = conversationID(0xC1)
    let alice = ReplicaID(testValue: 1), bob = ReplicaID(testValue: 2), carol = ReplicaID(testValue: 3)

    @Test("a run of batches appended in one transaction reads back after reopening")
    func appendReopenReadBack() throws {
        let seed: UInt64 = 0x5EED_0001
        print("appendReopenReadBack seed \(seed)")
        try withTemporaryDirectory { directory in
            let path = directory.child("nested/store")  // created, with parents
            var builder = ChainBuilder(conversation: conversation, seed: seed)
            var random = SeededGenerator(seed: seed)
            var batches: [BatchRecord] = []
            for _ in 0 ..< 60 {
                let author = [alice, bob, carol][Int.random(in: 0 ..< 3, using: &random)]
                batches.append(builder.next(author, opCount: .random(in: 1 ... 20, using: &random)))
            }
            do {
                let store = try ChatStore(directory: path)
                let result = try store.append(batches)
                #expect(result.outcomes == Array(repeating: .stored, count: 60))
                #expect(result.storedCount == 60)
            }
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o700)

            let store = try ChatStore(directory: path)
            var readBack: [BatchRecord] = []
            try store.forEachBatch(conversation, pageSize: 7) { readBack.append($0) }
            let expected = batches.sorted { ($0.author, $0.firstCounter) < ($1.author, $1.firstCounter) }
            #expect(readBack == expected)
            #expect(try store.batchCount(conversation) == 60)
            #expect(try store.opCount(conversation) == batches.reduce(0) { $0 + Int($1.opCount) })
            #expect(try store.conversations() == [conversation])
            #expect(try store.clock(of: conversation) == builder.clock)
            #expect(store.directorySizeBytes > 0)

            // Paging one author's log by counter.
            let aliceBatches = expected.filter { $0.author == alice }
            let page = try store.batches(conversation, author: alice, from: 0, limit: 3)
            #expect(page == Array(aliceBatches.prefix(3)))
            if let second = aliceBatches.dropFirst().first {
                let fromMiddle = try store.batches(
                    conversation, author: alice, from: second.firstCounter + second.opCount - 1, limit: 100)
                #expect(fromMiddle == Array(aliceBatches.dropFirst()))
            }
            let end = builder.heads[alice]?.next ?? 0
            #expect(try store.batches(conversation, author: alice, from: end, limit: 10) == [])
            #expect(try store.batches(conversation, author: alice, from: 0, limit: 0) == [])
        }
    }

    @Test("a batch appended twice is a duplicate and skipped (exactly-once)")
    func duplicates() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 2)
            let batches = (0 ..< 5).map { _ in builder.next(alice, opCount: 3) }
            try store.append(batches)
            let again = try store.append(batches + [batches[2]])
            #expect(again.outcomes == Array(repeating: .duplicate, count: 6))
            #expect(again.duplicateCount == 6)
            // Within one call too: the second copy sees the first.
            let next = builder.next(alice, opCount: 1)
            #expect(try store.append([next, next]).outcomes == [.stored, .duplicate])
            #expect(try store.batchCount(conversation) == 6)
            #expect(try store.clock(of: conversation)[alice] == 16)
        }
    }

    @Test("same key with another hash is kept as fork evidence and the head is unchanged")
    func forkEvidence() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 3)
            let batches = (0 ..< 3).map { _ in builder.next(alice, opCount: 4) }
            try store.append(batches)
            let headsBefore = try store.heads(of: conversation)

            // Same (author, first counter) as batch 1, other content.
            let conflicting = makeBatch(
                conversation: conversation, author: alice, firstCounter: 4, opCount: 4,
                previousHash: batches[0].hash, payload: [0xEE])
            // Overlapping counters under another split (starts inside batch 1).
            let overlapping = makeBatch(
                conversation: conversation, author: alice, firstCounter: 6, opCount: 2,
                previousHash: batches[0].hash, payload: [0xDD])
            let result = try store.append([conflicting, overlapping])
            #expect(result.outcomes == [.fork, .fork])
            #expect(result.forkCount == 2)

            let headsAfter = try store.heads(of: conversation)
            #expect(headsAfter[alice]?.nextCounter == headsBefore[alice]?.nextCounter)
            #expect(headsAfter[alice]?.hash == headsBefore[alice]?.hash)
            #expect(try store.batch(conversation, author: alice, containing: 5) == batches[1])
            #expect(Set(try store.forks(of: conversation)) == [conflicting, overlapping])
            #expect(try store.batchCount(conversation) == 3)
            // Re-delivering the evidence changes nothing.
            #expect(try store.append([conflicting]).outcomes == [.fork])
            #expect(try store.forks(of: conversation).count == 2)
        }
    }

    @Test("evidence found by the caller's verifier is kept with the batches, in one transaction")
    func callerEvidence() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 12)
            let first = builder.next(alice, opCount: 2)
            // Right counter, wrong previous hash: only a verifier can tell.
            let chainFork = makeBatch(
                conversation: conversation, author: alice, firstCounter: 2, opCount: 1,
                previousHash: testHash([0]), payload: [])
            let result = try store.append([first], evidence: [chainFork])
            #expect(result.outcomes == [.stored])
            #expect(try store.forks(of: conversation) == [chainFork])
            #expect(try store.clock(of: conversation)[alice] == 2)
            try store.recordEvidence([chainFork])
            #expect(try store.forks(of: conversation).count == 1)
            var bad = chainFork
            bad.hash = []
            #expect(throws: StoreError.invalidArgument("fork evidence needs a 32-byte hash")) {
                try store.recordEvidence([bad])
            }
        }
    }

    @Test("a batch starting past the head is rejected as a gap; later ones in order are stored")
    func gaps() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 4)
            let first = builder.next(alice, opCount: 2)
            let second = builder.next(alice, opCount: 2)
            let third = builder.next(alice, opCount: 2)
            #expect(try store.append([first, third]).outcomes == [.stored, .gap(expected: 2)])
            #expect(try store.clock(of: conversation)[alice] == 2)
            #expect(try store.append([third, second]).outcomes == [.gap(expected: 2), .stored])
            #expect(try store.append([second, third]).outcomes == [.duplicate, .stored])
            #expect(try store.clock(of: conversation)[alice] == 6)
            // An author never seen must start at 0.
            var other = ChainBuilder(conversation: conversation, seed: 5)
            _ = other.next(bob, opCount: 1)
            #expect(try store.append([other.next(bob, opCount: 1)]).outcomes == [.gap(expected: 0)])
        }
    }

    @Test("malformed batches are rejected without failing the rest of the group")
    func invalidBatches() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 6)
            var noOps = builder.next(bob, opCount: 1)
            noOps.opCount = 0
            var shortHash = noOps
            shortHash.opCount = 1
            shortHash.hash = [1, 2, 3]
            let overflow = BatchRecord(
                conversation: conversation, author: carol, firstCounter: .max, opCount: 2,
                hash: testHash([]), bytes: [])
            let good = ChainBuilder(conversation: conversation, seed: 7).nextBatch(alice)
            let result = try store.append([noOps, shortHash, overflow, good])
            #expect(result.invalidCount == 3)
            #expect(result.outcomes.last == .stored)
        }
    }

    @Test("the conversation's clock is derived from the heads of all authors")
    func clockFromHeads() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 8)
            let batches = [
                builder.next(alice, opCount: 5), builder.next(bob, opCount: 1), builder.next(alice, opCount: 2),
                builder.next(carol, opCount: 10),
            ]
            try store.append(batches)
            #expect(try store.clock(of: conversation) == VectorClock([alice: 7, bob: 1, carol: 10]))
            let heads = try store.heads(of: conversation)
            #expect(heads[alice]?.hash == batches[2].hash)
            #expect(heads.count == 3)
            #expect(try store.clock(of: conversationID(0x99)) == VectorClock())
        }
    }

    @Test("a counter in the middle of a batch finds that batch (range lookup)")
    func rangeLookup() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 9)
            let a0 = builder.next(alice, opCount: 10)  // 0..<10
            let a1 = builder.next(alice, opCount: 5)  // 10..<15
            let b0 = builder.next(bob, opCount: 3)
            try store.append([a0, a1, b0])
            #expect(try store.batch(conversation, author: alice, containing: 0) == a0)
            #expect(try store.batch(conversation, author: alice, containing: 7) == a0)
            #expect(try store.batch(conversation, author: alice, containing: 10) == a1)
            #expect(try store.batch(conversation, author: alice, containing: 14) == a1)
            #expect(try store.batch(conversation, author: alice, containing: 15) == nil)
            #expect(try store.batch(conversation, author: bob, containing: 2) == b0)
            #expect(try store.batch(conversation, author: carol, containing: 0) == nil)
            #expect(try store.batch(conversationID(0x01), author: alice, containing: 3) == nil)
        }
    }

    @Test("snapshots round trip, may ride along an append, and may not run ahead of the log")
    func snapshots() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            var builder = ChainBuilder(conversation: conversation, seed: 10)
            let batches = [builder.next(alice, opCount: 4), builder.next(bob, opCount: 2)]
            #expect(try store.snapshot(of: conversation) == nil)

            // In the same transaction as the batches it covers.
            let first = Snapshot(conversation: conversation, clock: builder.clock, bytes: Array("state-1".utf8))
            try store.append(batches, snapshot: first)
            #expect(try store.snapshot(of: conversation) == first)

            let ahead = Snapshot(conversation: conversation, clock: VectorClock([alice: 5]), bytes: [])
            #expect(throws: StoreError.snapshotAheadOfLog) { try store.saveSnapshot(ahead) }
            // A failed append stores none of its batches.
            let more = builder.next(alice, opCount: 1)
            #expect(throws: StoreError.snapshotAheadOfLog) {
                try store.append([more], snapshot: Snapshot(conversation: conversation, clock: VectorClock([carol: 1]), bytes: []))
            }
            #expect(try store.clock(of: conversation)[alice] == 4)

            let partial = Snapshot(conversation: conversation, clock: VectorClock([alice: 3]), bytes: [])
            try store.saveSnapshot(partial)
            #expect(try store.snapshot(of: conversation) == partial)
        }
    }

    @Test("metadata and the conversation list")
    func metadataAndConversations() throws {
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path)
            let other = conversationID(0x01)
            try store.setMetadata(Array("genesis".utf8), for: conversation)
            try store.setMetadata([], for: other)
            #expect(try store.metadata(of: conversation) == Array("genesis".utf8))
            #expect(try store.metadata(of: other) == [])
            #expect(try store.metadata(of: conversationID(0x02)) == nil)
            #expect(try store.conversations() == [other, conversation])
            #expect(try store.batchCount(other) == 0)
            #expect(try store.checkIntegrity(verifying: verifyTestBatch).ok)
        }
    }

    @Test("a store opened read-only reads but cannot write (typed error)")
    func readOnlyStore() throws {
        try withTemporaryDirectory { directory in
            var builder = ChainBuilder(conversation: conversation, seed: 11)
            let batch = builder.next(alice, opCount: 1)
            do {
                let store = try ChatStore(directory: directory.path)
                try store.append([batch])
            }
            let store = try ChatStore(directory: directory.path, options: StoreOptions(readOnly: true))
            #expect(try store.batch(conversation, author: alice, containing: 0) == batch)
            #expect(throws: StoreError.readOnly) { try store.append([builder.next(alice, opCount: 1)]) }
            #expect(throws: StoreError.readOnly) { try store.setMetadata([1], for: conversation) }
            #expect(throws: StoreError.readOnly) {
                try store.saveSnapshot(Snapshot(conversation: conversation, clock: VectorClock(), bytes: []))
            }
            #expect(try store.checkIntegrity(verifying: verifyTestBatch).ok)

            // Read-only never creates a directory or a store.
            let missing = directory.child("missing")
            #expect(throws: StoreError.directoryUnavailable(path: missing, errno: ENOENT)) {
                try ChatStore(directory: missing, options: StoreOptions(readOnly: true))
            }
            let empty = directory.child("empty")
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
            #expect(throws: StoreError.notAStore) {
                try ChatStore(directory: empty, options: StoreOptions(readOnly: true))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: empty) == [])
        }
    }

    @Test("a store written by a newer major format version is refused")
    func newerFormatRefused() throws {
        try withTemporaryDirectory { directory in
            do { _ = try ChatStore(directory: directory.path) }
            do {
                let environment = try LMDBEnvironment(path: directory.path)
                let meta = try environment.openDatabase(named: StoreSchema.metaName, create: false)
                try environment.read { txn throws(StoreError) in
                    #expect(try txn.get(StoreSchema.formatKey, in: meta) == [0, 2, 0, 0])
                }
                try environment.write { txn throws(StoreError) in
                    try txn.put(StoreSchema.encodeFormat(major: 3, minor: 0), for: StoreSchema.formatKey, in: meta)
                }
            }
            #expect(throws: StoreError.unsupportedFormatVersion(found: 3, supported: 2)) {
                try ChatStore(directory: directory.path)
            }
            #expect(throws: StoreError.unsupportedFormatVersion(found: 3, supported: 2)) {
                try ChatStore(directory: directory.path, options: StoreOptions(readOnly: true))
            }
            // A 1.x store (batches with vector clocks, protocol 4 and older) is refused as well.
            do {
                let environment = try LMDBEnvironment(path: directory.path)
                let meta = try environment.openDatabase(named: StoreSchema.metaName, create: false)
                try environment.write { txn throws(StoreError) in
                    try txn.put(StoreSchema.encodeFormat(major: 1, minor: 2), for: StoreSchema.formatKey, in: meta)
                }
            }
            #expect(throws: StoreError.unsupportedFormatVersion(found: 1, supported: 2)) {
                try ChatStore(directory: directory.path)
            }
        }
    }

    @Test("a newer minor format version is accepted")
    func newerMinorAccepted() throws {
        try withTemporaryDirectory { directory in
            do { _ = try ChatStore(directory: directory.path) }
            do {
                let environment = try LMDBEnvironment(path: directory.path)
                let meta = try environment.openDatabase(named: StoreSchema.metaName, create: false)
                try environment.write { txn throws(StoreError) in
                    try txn.put(StoreSchema.encodeFormat(major: 2, minor: 7), for: StoreSchema.formatKey, in: meta)
                }
            }
            _ = try ChatStore(directory: directory.path)
        }
    }

    @Test("an LMDB environment that is not a ChatStore is refused and left untouched")
    func foreignEnvironmentRefused() throws {
        try withTemporaryDirectory { directory in
            do {
                let environment = try LMDBEnvironment(path: directory.path)
                let other = try environment.openDatabase(named: "other")
                try environment.write { txn throws(StoreError) in try txn.put([1], for: [1], in: other) }
            }
            #expect(throws: StoreError.notAStore) { try ChatStore(directory: directory.path) }
            let environment = try LMDBEnvironment(path: directory.path)
            #expect(throws: StoreError.notFound) { try environment.openDatabase(named: StoreSchema.metaName, create: false) }
        }
    }

    @Test("the map grows from 64 KiB while appending more than 1 MB, instead of failing")
    func storeMapGrowth() throws {
        let seed: UInt64 = 0x5EED_0012
        print("storeMapGrowth seed \(seed)")
        try withTemporaryDirectory { directory in
            var builder = ChainBuilder(conversation: conversation, seed: seed)
            let options = StoreOptions(mapSize: 64 << 10)
            do {
                let store = try ChatStore(directory: directory.path, options: options)
                // One group of 300 × ~4 KiB ≈ 1.2 MB in a single transaction.
                let group = (0 ..< 300).map { index in
                    builder.next(index % 2 == 0 ? alice : bob, opCount: 8, payloadSize: 4096)
                }
                #expect(try store.append(group).storedCount == 300)
                // Then a single batch larger than the whole map, and many small commits.
                #expect(try store.append([builder.next(carol, opCount: 1, payloadSize: 3 << 20)]).storedCount == 1)
                for _ in 0 ..< 50 {
                    #expect(try store.append([builder.next(alice, opCount: 1, payloadSize: 512)]).storedCount == 1)
                }
                #expect(store.environment.mapSize > 4 << 20)
                #expect(store.directorySizeBytes > 4 << 20)
            }
            let store = try ChatStore(directory: directory.path, options: options)
            #expect(try store.clock(of: conversation) == builder.clock)
            #expect(try store.batchCount(conversation) == 351)
            let report = try store.checkIntegrity(verifying: verifyTestBatch)
            #expect(report.ok, "\(report.problems)")
        }
    }

    @Test("readers run concurrently with a writer that grows the map")
    func concurrentReadersAndGrowingWriter() throws {
        let seed: UInt64 = 0x5EED_0013
        print("concurrentReadersAndGrowingWriter seed \(seed)")
        try withTemporaryDirectory { directory in
            let store = try ChatStore(directory: directory.path, options: StoreOptions(mapSize: 64 << 10))
            var builder = ChainBuilder(conversation: conversation, seed: seed)
            let groups = (0 ..< 40).map { _ in (0 ..< 5).map { _ in builder.next(alice, opCount: 2, payloadSize: 2048) } }
            let failures = LockedCounter()
            DispatchQueue.concurrentPerform(iterations: 3) { worker in
                if worker == 0 {
                    for group in groups where (try? store.append(group).storedCount) != 5 { failures.increment() }
                } else {
                    var last: UInt32 = 0
                    for _ in 0 ..< 200 {
                        // The clock never goes back, and the batch holding its last op is always there.
                        guard let next = try? store.clock(of: conversation)[alice], next >= last else {
                            failures.increment()
                            continue
                        }
                        last = next
                        if next > 0, (try? store.batch(conversation, author: alice, containing: next - 1)) == nil {
                            failures.increment()
                        }
                    }
                }
            }
            #expect(failures.value == 0)
            #expect(store.environment.mapSize > 64 << 10, "the map grew while readers were running")
            #expect(try store.clock(of: conversation)[alice] == 400)
            #expect(try store.checkIntegrity(verifying: verifyTestBatch).ok)
        }
    }
}

extension ChainBuilder {
    /// The next one-op batch of `author`, with a default payload.
    func nextBatch(_ author: ReplicaID) -> BatchRecord {
        var copy = self
        return copy.next(author, opCount: 1)
    }
}

/// A counter shared by concurrent test workers.
final class LockedCounter: @unchecked Sendable {
    // SAFETY: `count` is only touched under `lock`.
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
