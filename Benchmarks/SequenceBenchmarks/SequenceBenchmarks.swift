import Benchmark
import ChatCore
import ChatTraces
import Foundation

/// Merge-throughput benchmarks on the real editing traces in ../shared/traces: local replay,
/// loading a saved state, and a concurrent merge (one replica per agent). Traces that are absent
/// are skipped with a message.
let benchmarks: @Sendable () -> Void = {
    let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/traces").path
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(10), maxIterations: 30)

    for name in ["automerge-paper", "friendsforever"] {
        let path = folder + "/" + name + ".json.gz"
        guard let trace = try? EditingTrace.load(path: path) else {
            print("SequenceBenchmarks: \(path) is absent; skipping \(name)")
            continue
        }
        Benchmark("replay \(name) (\(trace.kind.rawValue))", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try TraceReplayer.replay(trace).document.count)
            }
        }
        guard let final = try? TraceReplayer.replay(trace).document else { continue }
        let encoded = final.encodedState()
        Benchmark("load \(name) state (\(encoded.count) bytes)", configuration: configuration) { benchmark in
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
