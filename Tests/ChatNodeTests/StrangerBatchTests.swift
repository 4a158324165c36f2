import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatSync
import ChatTools
import ChatWire
import Foundation
import Testing

/// Attacks 3 and 6 of issue 14 through the node's real ingest path: batches by keys that are
/// not members in their causal past are neither stored nor relayed, so a flood of fresh keys
/// grows nothing.
@Suite struct StrangerBatchTests {
    let configuration = IngestBenchmark.Configuration(opsPerBatch: 10, authors: 2, totalOps: 200, batchesPerTransaction: 32)

    /// A fresh key's one-op batch on top of `dependencies`.
    func strangerBatch(_ index: Int, _ op: ConversationOp, conversation: ConversationID,
                       dependencies: [BatchDependency]) throws -> [UInt8] {
        var seed = [UInt8](repeating: 0x5A, count: 32)
        for byte in 0 ..< 4 { seed[byte] = UInt8(truncatingIfNeeded: index >> (8 * byte)) }
        let key = try SigningKey(seed: seed)
        let content = BatchContent(conversation: conversation, author: key.publicKey.replicaID, firstCounter: 0,
                                   timestamp: 1_750_000_100_000, previousHash: Array(repeating: 0, count: 32),
                                   dependencies: dependencies, operations: [op])
        return SignedBatch(content: content) { key.sign($0).bytes }.bytes
    }

    @Test func aFloodOfFreshKeysIsNeitherStoredNorGrowsTheClock() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = IngestBenchmark.generate(configuration)
        let store = try ChatStore(directory: directory + "/store")
        let replica = try ConversationReplica(store: store, conversation: workload.conversation,
                                              localReplica: ReplicaID(testValue: 9))
        _ = try await replica.ingest(workload.batches)
        let clock = await replica.clock
        let heads = await replica.dependencies(for: ReplicaID(testValue: 0x5A))
        let before = await replica.document.canonicalVisibleState()

        let flood = try (0 ..< 4097).map { index in
            try strangerBatch(index, .postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("spam".unicodeScalars))),
                              conversation: workload.conversation, dependencies: heads)
        }
        var report = IngestReport()
        for start in stride(from: 0, to: flood.count, by: 512) {
            report.merge(try await replica.ingest(Array(flood[start ..< min(flood.count, start + 512)])))
        }
        #expect(report.accepted == 0)
        #expect(report.rejected["not_a_member"] == 4097)
        #expect(await replica.clock == clock, "no stranger entered the clock")
        #expect(await replica.document.canonicalVisibleState() == before)

        // Requests and declines from strangers are refused too; nothing was written, so the
        // conversation reopens exactly.
        let request = try strangerBatch(5000, .requestAccess(permission: .comment, note: "let me in"),
                                        conversation: workload.conversation, dependencies: heads)
        let decline = try strangerBatch(5001, .declineInvite(tokenID: Array(repeating: 1, count: 16)),
                                        conversation: workload.conversation, dependencies: heads)
        let more = try await replica.ingest([request, decline])
        #expect(more.rejected["not_a_member"] == 2)
        let reopened = try ConversationReplica(store: store, conversation: workload.conversation,
                                               localReplica: ReplicaID(testValue: 9))
        #expect(await reopened.clock == clock)
        #expect(await reopened.document.canonicalVisibleState() == before)
    }
}
