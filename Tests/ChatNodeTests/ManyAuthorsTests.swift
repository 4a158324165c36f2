import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatSync
import ChatWire
import Foundation
import Testing

/// Issue 14: per-batch metadata is bounded by what is new since the author's previous batch, not
/// by how many authors the conversation ever had, and a conversation with 10,000 past authors
/// still syncs, writes and reopens.
@Suite struct ManyAuthorsTests {
    /// Ana's conversation where `count` members each posted once, one after another (each saw
    /// the one before): every batch, in causal order, and Ana's signer.
    static func conversation(authors count: Int) throws -> (batches: [[UInt8]], ana: EquivocationNodeTests.Signer,
                                                             conversation: ConversationID) {
        var ana = try EquivocationNodeTests.Signer(1)
        var time: UInt64 = 1_750_000_000_000
        let genesis = ana.sign([.genesis(Genesis(title: "crowd", nonce: [9]))], conversation: nil, at: time)
        let conversation = try #require(ConversationID(bytes: Hashing.blake2b(genesis.bytes)))
        let keys = try (0 ..< count).map { index in
            var seed = [UInt8](repeating: 0x77, count: 32)
            for byte in 0 ..< 4 { seed[byte] = UInt8(truncatingIfNeeded: index >> (8 * byte)) }
            return try SigningKey(seed: seed)
        }
        var batches = [genesis.bytes, ana.sign([.setSettings(ConversationSettings(messagesPerMinute: 1_000_000,
                                                                                  maxMessageBytes: 2048, isPublic: false))],
                                               conversation: conversation, at: time).bytes]
        // Grants in batches of 2,000 (a batch's replica table holds at most 4,096 keys).
        for start in stride(from: 0, to: count, by: 2000) {
            let grants = keys[start ..< min(count, start + 2000)].map {
                ConversationOp.setPermission(member: $0.publicKey.replicaID, permission: .comment)
            }
            batches.append(ana.sign(grants, conversation: conversation, at: time).bytes)
        }
        var head = ana.latest
        var last: OpID?
        for (index, key) in keys.enumerated() {
            time += 10
            let author = key.publicKey.replicaID
            let content = BatchContent(conversation: conversation, author: author, firstCounter: 0, timestamp: time,
                                       previousHash: [UInt8](repeating: 0, count: 32), dependencies: [head],
                                       operations: [.postMessage(PostMessage(originLeft: last, originRight: nil,
                                                                             body: Array("hi \(index)".unicodeScalars)))])
            let batch = SignedBatch(content: content) { key.sign($0).bytes }
            batches.append(batch.bytes)
            head = BatchDependency(replica: author, count: UInt32(batch.idCount), hash: Hashing.blake2b(batch.bytes))
            last = OpID(replica: author, counter: 0)
        }
        return (batches, ana, conversation)
    }

    @Test func tenThousandAuthorsSyncWriteAndReopenAndAOneOpBatchStaysSmall() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authors = 10_000
        let (batches, ana, conversation) = try Self.conversation(authors: authors)
        let store = try ChatStore(directory: directory + "/a")
        var replica = try ConversationReplica(store: store, conversation: conversation, localReplica: ana.id)
        for start in stride(from: 0, to: batches.count, by: 1000) {
            let report = try await replica.ingest(Array(batches[start ..< min(batches.count, start + 1000)]))
            #expect(report.rejected.isEmpty, "\(report.rejected)")
        }
        #expect(await replica.clock.entries.count == authors + 1)
        #expect(await replica.document.orderedMessages.count == authors)

        // Ana writes one short message: it names her previous batch and one head.
        await replica.attachAuthor(ana.key)
        let written = try await replica.writeLocal([await replica.document.newMessage(Array("ok".unicodeScalars))],
                                                   wallClock: 1_750_000_500_000)
        let batch = try #require(written.first?.0)
        print("one-op batch with \(authors) past authors: \(batch.bytes.count) bytes, \(batch.content.dependencies.count) dependency")
        #expect(batch.bytes.count <= 300)
        #expect(batch.content.dependencies.count == 1)
        #expect(await replica.document.orderedMessages.count == authors + 1)

        // It reopens from the store, with every author.
        let clock = await replica.clock
        replica = try ConversationReplica(store: store, conversation: conversation, localReplica: ana.id)
        #expect(await replica.clock == clock)
        #expect(await replica.document.orderedMessages.count == authors + 1)

        // A new replica catches up from it, chunk by chunk, as a peer would.
        let joiner = try ConversationReplica(store: try ChatStore(directory: directory + "/b"), conversation: conversation,
                                             localReplica: ReplicaID(testValue: 77))
        var sent = 0
        while await joiner.clock != clock {
            let chunk = try await replica.storedBatches(above: await joiner.clock, limit: 512)
            guard !chunk.isEmpty else { break }
            sent += chunk.count
            let outcome = try await joiner.receive(chunk.map(\.batch.bytes))
            #expect(outcome.report.rejected.isEmpty)
        }
        #expect(sent == batches.count + 1)
        #expect(await joiner.document.canonicalVisibleState() == replica.document.canonicalVisibleState())
    }
}
