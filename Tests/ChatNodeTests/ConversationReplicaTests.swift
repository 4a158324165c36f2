import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatSync
import ChatTools
import ChatWire
import Foundation
import Testing

/// A fresh temporary directory, removed by `cleanup`.
func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("chatnode-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct ConversationReplicaTests {
    let configuration = IngestBenchmark.Configuration(opsPerBatch: 10, authors: 3, totalOps: 3000, batchesPerTransaction: 32)

    func messageTexts(_ document: ConversationDocument) -> [String] {
        document.orderedMessages.map(\.body.text)
    }

    @Test func ingestPersistsAppliesAndSurvivesReopening() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = IngestBenchmark.generate(configuration)
        var texts: [String] = []
        var clock = VectorClock()
        do {
            let store = try ChatStore(directory: directory + "/store")
            let replica = try ConversationReplica(store: store, conversation: workload.conversation,
                                                  localReplica: ReplicaID(testValue: 9), snapshotInterval: 1000)
            var total = IngestReport()
            for group in IngestBenchmark.group(workload.batches, configuration) {
                total.merge(try await replica.ingest(group))
            }
            #expect(total.accepted == workload.batches.count)
            #expect(total.rejectedCount == 0)
            #expect(total.operationsApplied == workload.operationCount)
            #expect(total.operationsExcluded == 0)
            texts = messageTexts(await replica.document)
            clock = await replica.clock
            #expect(!texts.isEmpty)
            #expect(await replica.document.title == "ingest benchmark")
        }
        // Reopen: snapshot plus replay of what came after it gives the same state.
        let store = try ChatStore(directory: directory + "/store")
        #expect(try store.snapshot(of: workload.conversation) != nil, "a snapshot was saved along the way")
        let reopened = try ConversationReplica(store: store, conversation: workload.conversation, localReplica: ReplicaID(testValue: 9))
        #expect(messageTexts(await reopened.document) == texts)
        #expect(await reopened.clock == clock)
        // Everything again: all duplicates, nothing changes.
        let again = try await reopened.ingest(workload.batches)
        #expect(again.duplicates == workload.batches.count)
        #expect(again.accepted == 0)
        #expect(messageTexts(await reopened.document) == texts)
    }

    @Test func outOfOrderDeliveryConvergesToTheSameState() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = IngestBenchmark.generate(configuration)
        let seed: UInt64 = 20261126
        var random = SeededGenerator(seed: seed)
        var shuffled = workload.batches
        shuffled.shuffle(using: &random)
        shuffled += shuffled.prefix(50) // and some replays
        let inOrder = try ConversationReplica(store: try ChatStore(directory: directory + "/a"),
                                              conversation: workload.conversation, localReplica: ReplicaID(testValue: 1))
        _ = try await inOrder.ingest(workload.batches)
        let scrambled = try ConversationReplica(store: try ChatStore(directory: directory + "/b"),
                                                conversation: workload.conversation, localReplica: ReplicaID(testValue: 1))
        for chunk in stride(from: 0, to: shuffled.count, by: 37) {
            _ = try await scrambled.ingest(Array(shuffled[chunk ..< min(shuffled.count, chunk + 37)]))
        }
        #expect(await scrambled.pendingCount == 0, "seed \(seed)")
        #expect(messageTexts(await scrambled.document) == messageTexts(await inOrder.document), "seed \(seed)")
        #expect(await scrambled.clock == inOrder.clock, "seed \(seed)")
    }

    @Test func badInputIsCountedAndNothingStoredIsLost() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = IngestBenchmark.generate(configuration)
        let store = try ChatStore(directory: directory + "/store")
        let replica = try ConversationReplica(store: store, conversation: workload.conversation, localReplica: ReplicaID(testValue: 1))
        _ = try await replica.ingest(Array(workload.batches.prefix(20)))
        let before = try store.batchCount(workload.conversation)

        var tampered = workload.batches[20]
        tampered[tampered.count - 3] ^= 0xFF // signature byte
        var truncated = workload.batches[21]
        truncated.removeLast(100)
        let garbage: [UInt8] = Array(repeating: 0x53, count: 300)
        let report = try await replica.ingest([tampered, truncated, garbage, [], workload.batches[5]])
        #expect(report.rejected["bad_signature"] == 1)
        #expect(report.rejectedCount == 4)
        #expect(report.duplicates == 1)
        #expect(report.accepted == 0)
        #expect(try store.batchCount(workload.conversation) == before)
        #expect(await replica.rejections.total == 4)
    }

    /// A second version of stored counters is kept as evidence, never applied, and freezes its
    /// author from the fork point on (issue 14: every replica that holds both agrees).
    @Test func forksAreKeptAsEvidenceAndFreezeTheirAuthor() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = IngestBenchmark.generate(configuration)
        let store = try ChatStore(directory: directory + "/store")
        let replica = try ConversationReplica(store: store, conversation: workload.conversation, localReplica: ReplicaID(testValue: 1))
        _ = try await replica.ingest(workload.batches)
        let textsBefore = messageTexts(await replica.document)
        // The author of batch 4 signs a different batch 4: same counters, other content.
        let original = try SignedBatch(decoding: workload.batches[4])
        let key = try #require([UInt8(1), 2, 3].lazy.map { try? SigningKey(seed: Array(repeating: $0, count: 32)) }.first { $0?.publicKey.replicaID == original.content.author } ?? nil)
        #expect(key.publicKey.replicaID == original.content.author)
        var content = original.content
        content.timestamp += 1
        let forged = SignedBatch(content: content) { key.sign($0).bytes }
        let report = try await replica.ingest([forged.bytes])
        #expect(report.forks == 1)
        #expect(try store.forks(of: workload.conversation).count == 1)
        let author = original.content.author, point = original.content.firstCounter
        #expect(await replica.conversation.equivocators[author] == point)
        let after = await replica.document.orderedMessages
        #expect(after.allSatisfy { $0.author != author || $0.id.counter < point })
        #expect(after.map(\.body.text).allSatisfy(textsBefore.contains), "nothing new appears")
    }
}

@Suite struct LocalAuthorTests {
    /// A burst of keystrokes becomes one signed batch, durable when flushed, chained to the
    /// author's previous batch; a full batch seals at once.
    @Test func localEditsCoalesceIntoSignedChainedBatches() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try SigningKey(seed: Array(repeating: 42, count: 32))
        let me = key.publicKey.replicaID
        let genesis = SignedBatch(content: BatchContent(
            conversation: nil, author: me, firstCounter: 0, timestamp: 1_750_000_000_000,
            previousHash: Array(repeating: 0, count: 32), dependencies: [],
            operations: [.genesis(Genesis(title: "mine", nonce: [1]))]), sign: { key.sign($0).bytes })
        let conversation = try #require(ConversationID(bytes: Hashing.blake2b(genesis.bytes)))
        let store = try ChatStore(directory: directory + "/store")
        let replica = try ConversationReplica(store: store, conversation: conversation, localReplica: me)
        _ = try await replica.ingest([genesis.bytes])
        await replica.attachAuthor(key, policy: .init(maxOperations: 4, maxIDs: 1000, flushInterval: .milliseconds(50)))

        let message = OpID(replica: me, counter: 1)
        var result = try await replica.submit(post("h"), now: .milliseconds(0), wallClock: 1_750_000_001_000)
        guard case .queued(let deadline) = result else { Issue.record("expected queued"); return }
        #expect(deadline == .milliseconds(50))
        result = try await replica.submit(.insertText(InsertText(message: message, originLeft: OpID(replica: me, counter: 2), originRight: nil, text: ["i"])),
                                          now: .milliseconds(10), wallClock: 1_750_000_001_010)
        guard case .waiting = result else { Issue.record("expected waiting"); return }
        let flushed = try await replica.flush(wallClock: 1_750_000_001_050)
        let (batch, report) = try #require(flushed)
        #expect(batch.content.operations.count == 2, "two keystrokes, one batch")
        #expect(batch.content.previousHash == Hashing.blake2b(genesis.bytes))
        #expect(report.accepted == 1)
        #expect(await replica.document.orderedMessages.map(\.body.text) == ["hi"])
        #expect(try await replica.flush(wallClock: 1_750_000_001_060) == nil)
        // Four operations fill a batch: sealed at once.
        var sealed = 0
        for i in 0 ..< 4 {
            if case .sealed = try await replica.submit(post("m\(i)"), now: .milliseconds(100 + Int64(i)), wallClock: 1_750_000_002_000) {
                sealed += 1
            }
        }
        #expect(sealed == 1)
        #expect(try store.batchCount(conversation) == 3)
    }
}

func post(_ text: String) -> ConversationOp {
    .postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array(text.unicodeScalars)))
}
