import ArgumentParser
import ChatNode
import ChatTools
import Foundation

extension StreamingChat.Bench {
    /// `streamingchat bench cluster`: delivery latency across N real nodes on loopback.
    struct Cluster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "N nodes with real TCP on loopback; messages from random nodes; delivery latency to every other node.")

        @Option(help: "Nodes.")
        var nodes = 50

        @Option(help: "Messages, each from a random node.")
        var messages = 200

        @Option(help: "Milliseconds between messages.")
        var intervalMs = 50

        @Option(help: "Seed for the choice of senders and join paths.")
        var seed: UInt64 = 7

        @Option(help: "Sessions each node dials on its own after peer exchange (others dial it too: about twice as many in all).")
        var maxPeers = 3

        @OptionGroup var output: ReportOptions

        func validate() throws {
            guard (2 ... 200).contains(nodes) else { throw ValidationError("--nodes must be 2 … 200") }
            guard (1 ... 100_000).contains(messages) else { throw ValidationError("--messages must be 1 … 100000") }
            guard (0 ... 10_000).contains(intervalMs) else { throw ValidationError("--interval-ms must be 0 … 10000") }
        }

        func run() async throws {
            let report = try await inTemporaryDirectory("cluster") {
                try await ClusterBenchmark.run(nodes: nodes, messages: messages, interval: .milliseconds(intervalMs),
                                               seed: seed, maxPeers: maxPeers, directory: $0)
            }
            try output.print(report) { report in
                [
                    ("nodes", "\(report.nodes)"), ("messages", "\(report.messages)"), ("deliveries", "\(report.deliveries)"),
                    ("p50", "\(report.p50Ms) ms"), ("p95", "\(report.p95Ms) ms"), ("p99", "\(report.p99Ms) ms"),
                    ("max", "\(report.maxMs) ms"), ("lost", "\(report.lost)"), ("duplicated", "\(report.duplicated)"),
                    ("peers per node", "\(report.meanPeers)"), ("setup", "\(report.setupMs) ms"),
                ]
            }
            if report.lost > 0 || report.duplicated > 0 { throw ExitCode(1) }
        }
    }
}
