import ArgumentParser
import ChatNode
import ChatTools
import Foundation

extension StreamingChat.Bench {
    /// `streamingchat bench sync`: catch-up between two real nodes on loopback.
    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Two nodes on loopback: one holds N operations the other lacks; time the catch-up, then a dropped connection's recovery.")

        @Option(help: "Operations the lagging node lacks.")
        var ops = 100_000

        @Option(help: "Operations per signed batch (a burst of typing).")
        var opsPerBatch = 100

        @Option(help: "Operations written while the connection is down, for the reconnect measurement.")
        var reconnectOps = 10

        @OptionGroup var output: ReportOptions

        func validate() throws {
            guard (10 ... 10_000_000).contains(ops) else { throw ValidationError("--ops must be 10 … 10000000") }
            guard (1 ... 65_536).contains(opsPerBatch) else { throw ValidationError("--ops-per-batch must be 1 … 65536") }
            guard (0 ... 10_000).contains(reconnectOps) else { throw ValidationError("--reconnect-ops must be 0 … 10000") }
        }

        func run() async throws {
            let report = try await inTemporaryDirectory("sync") {
                try await SyncBenchmark.run(ops: ops, opsPerBatch: opsPerBatch, reconnectOps: reconnectOps, directory: $0)
            }
            try output.print(report) { report in
                [
                    ("ops", "\(report.ops)"), ("batches", "\(report.batches)"), ("ops per batch", "\(report.opsPerBatch)"),
                    ("catch-up", "\(report.catchUpMs) ms"), ("ops/s", "\(Int(report.opsPerSecond))"),
                    ("reconnect + resync", "\(report.reconnectMs) ms (\(report.reconnectOps) ops written while down)"),
                ]
            }
        }
    }
}
