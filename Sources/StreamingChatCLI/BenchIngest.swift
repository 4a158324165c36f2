import ArgumentParser
import ChatNode
import ChatTools
import Foundation

extension StreamingChat.Bench {
    /// `streamingchat bench ingest`: the whole ingest path into a fresh store.
    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate signed batches from several authors (fixed seeds) and measure decode → verify → persist → apply.")

        @Option(help: "Operations per batch.")
        var opsPerBatch = 10

        @Option(help: "Authors taking turns.")
        var authors = 4

        @Option(help: "Operations in total.")
        var ops = 400_000

        @Option(help: "Keep the store in this directory (default: a temporary one, removed afterwards).")
        var data: String?

        @OptionGroup var output: ReportOptions

        func validate() throws {
            guard (1 ... 65_536).contains(opsPerBatch) else { throw ValidationError("--ops-per-batch must be 1 … 65536") }
            guard (1 ... 1000).contains(authors) else { throw ValidationError("--authors must be 1 … 1000") }
            guard (1 ... 100_000_000).contains(ops) else { throw ValidationError("--ops must be 1 … 100000000") }
        }

        func run() async throws {
            let directory = data ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("streamingchat-ingest-\(UUID().uuidString)").path
            if let data, FileManager.default.fileExists(atPath: data + "/data.mdb") {
                throw CommandFailure("\(data) already holds a store; bench ingest needs a fresh one", exitCode: 2)
            }
            defer { if data == nil { try? FileManager.default.removeItem(atPath: directory) } }
            let report: IngestBenchmarkReport
            do {
                report = try await IngestBenchmark.run(
                    .init(opsPerBatch: opsPerBatch, authors: authors, totalOps: ops), directory: directory)
            } catch {
                throw CommandFailure("\(error)", exitCode: 2)
            }
            try output.print(report) { report in
                [
                    ("batches", "\(report.batches)"), ("ops per batch", "\(report.opsPerBatch)"), ("ops", "\(report.ops)"),
                    ("authors", "\(report.authors)"), ("ops/s", "\(Int(report.opsPerSecond))"),
                    ("batches/s", "\(Int(report.batchesPerSecond))"), ("signatures verified", "\(report.signaturesVerified)"),
                    ("batch latency, ms (p50, p99)", "\(report.msPerBatchP50), \(report.msPerBatchP99)"),
                    ("ms per commit (p50)", "\(report.msPerGroupP50)"),
                    ("store bytes", "\(report.storeBytes)"), ("elapsed", "\(report.elapsedMs) ms"),
                ]
            }
            if report.rejected > 0 {
                throw CommandFailure("\(report.rejected) generated batches were rejected")
            }
        }
    }
}
