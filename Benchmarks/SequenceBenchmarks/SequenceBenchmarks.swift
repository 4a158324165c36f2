import Benchmark
import ChatCore
import ChatTraces
import Foundation

/// Merge-throughput benchmarks on every editing trace in ../shared/traces: replay, encoding and
/// loading the final state, and merging its whole history into an empty replica; and a
/// conversation's materialization and snapshot load. Without traces, the trace benchmarks are
/// skipped with a message.
let benchmarks: @Sendable () -> Void = {
    let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/traces").path
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(10), maxIterations: 30)

    // A conversation with a long history: 10,000 messages with 5 edits each (the CLI's
    // `bench conversation` runs the 100,000-message version).
    let (conversationID, history) = ConversationBenchmark.workload(messages: 10_000, editsPerMessage: 5)
    Benchmark("materialize conversation (10,000 messages × 5 edits)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            var conversation = Conversation(id: conversationID, localReplica: ReplicaID(testValue: 1), verifyInvite: { _ in nil })
            for batch in history { _ = conversation.receive(batch) }
            blackHole(conversation.document.messageList.count)
        }
    }
    var built = Conversation(id: conversationID, localReplica: ReplicaID(testValue: 1), verifyInvite: { _ in nil })
    for batch in history { _ = built.receive(batch) }
    let snapshot = built.encodedSnapshot()
    Benchmark("load conversation snapshot (10,000 messages, \(snapshot.count) bytes)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Conversation(snapshot: snapshot, id: conversationID, localReplica: ReplicaID(testValue: 1),
                                       verifyInvite: { _ in nil }).document.messageList.count)
        }
    }

    // Every trace in the folder, by name.
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        .filter { $0.hasSuffix(".json.gz") }.map { String($0.dropLast(".json.gz".count)) }.sorted()
    if names.isEmpty { print("SequenceBenchmarks: no traces in \(folder); skipping the trace benchmarks") }
    for name in names {
        let path = folder + "/" + name + ".json.gz"
        guard let trace = try? EditingTrace.load(path: path) else {
            print("SequenceBenchmarks: \(path) did not load; skipping \(name)")
            continue
        }
        Benchmark("replay \(name) (\(trace.kind.rawValue))", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try TraceReplayer.replay(trace).document.count)
            }
        }
        guard let final = try? TraceReplayer.replay(trace).document else { continue }
        let encoded = final.encodedState()
        Benchmark("encode \(name) state (\(encoded.count) bytes)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(final.encodedState().count)
            }
        }
        Benchmark("load \(name) state text first (\(encoded.count) bytes)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try SequenceCRDT<Unicode.Scalar>(decodingTextFirst: encoded).count)
            }
        }
        Benchmark("load \(name) state checked whole (\(encoded.count) bytes)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try SequenceCRDT<Unicode.Scalar>(decoding: encoded).count)
            }
        }
        let operations = final.operations()
        Benchmark("merge \(name) ops into an empty replica (\(operations.count) ops)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                var replica = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 999))
                try replica.apply(contentsOf: operations)
                blackHole(replica.count)
            }
        }
    }
}
