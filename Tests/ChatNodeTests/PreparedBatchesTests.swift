import ChatCore
@testable import ChatNode
import ChatStore
import ChatSync
import ChatTools
import ChatWire
import Foundation
import Testing

/// Signature checks started ahead for a large frame (while the frame before it commits) give the
/// same outcome as checking on arrival: stored copies among them are left out, forgeries are
/// refused, and the rest is stored and applied.
@Suite struct PreparedBatchesTests {
    let configuration = IngestBenchmark.Configuration(opsPerBatch: 10, authors: 2, totalOps: 1200, batchesPerTransaction: 40)

    @Test func onlyLargeBatchFramesAreCheckedAhead() {
        let conversation = ConversationID(bytes: Array(repeating: 5, count: 32))!
        let small = DataFrame.batches(conversation: conversation, batches: Array(repeating: [1, 2, 3], count: PreparedBatches.minimumBatches - 1))
        let large = DataFrame.batches(conversation: conversation, batches: Array(repeating: [1, 2, 3], count: PreparedBatches.minimumBatches))
        #expect(PreparedBatches.start(for: small, limits: .default) == nil)
        #expect(PreparedBatches.start(for: .clock(conversation: conversation, clock: VectorClock()), limits: .default) == nil)
        #expect(PreparedBatches.start(for: large, limits: .default)?.batches.count == PreparedBatches.minimumBatches)
    }

    @Test func checkedAheadOrOnArrivalTheReplicasEndAlike() async throws {
        let workload = IngestBenchmark.generate(configuration)
        // The first 40 batches are stored already; the frame carries them again, then 60 new
        // ones, one of them with a byte of its signature changed.
        var frame = Array(workload.batches.prefix(100))
        frame[70][frame[70].count - 1] ^= 0x01
        var outcomes: [IngestOutcome] = []
        var texts: [[String]] = []
        for ahead in [false, true] {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let replica = try ConversationReplica(store: try ChatStore(directory: directory + "/store"),
                                                  conversation: workload.conversation, localReplica: ReplicaID(testValue: 9))
            _ = try await replica.ingest(Array(workload.batches.prefix(40)))
            let prepared = ahead ? PreparedBatches.start(for: .batches(conversation: workload.conversation, batches: frame), limits: .default) : nil
            #expect(ahead == (prepared != nil))
            outcomes.append(try await replica.receive(frame, prepared: prepared))
            texts.append(await replica.document.orderedMessages.map(\.body.text))
        }
        #expect(outcomes[0].report == outcomes[1].report)
        #expect(outcomes[1].report.duplicates == 40 && outcomes[1].report.rejected["bad_signature"] == 1)
        #expect(outcomes[0].accepted.map(\.hash) == outcomes[1].accepted.map(\.hash))
        #expect(outcomes[0].authentic.count == outcomes[1].authentic.count)
        #expect(texts[0] == texts[1] && !texts[0].isEmpty)
    }
}
