import ArgumentParser
import ChatNode
import ChatTools
import Foundation

extension StreamingChat {
    /// Hidden commands used by the test suite.
    struct Debug: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Test helpers.", shouldDisplay: false, subcommands: [IngestLoop.self, StreamingChat.DebugRevoke.self])
    }
}

extension StreamingChat.Debug {
    /// Ingests the benchmark workload into DIR (resuming), printing `durable N` after each commit.
    struct IngestLoop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ingest-loop")

        @Option var data: String
        @Option var opsPerBatch = 10
        @Option var ops = 100_000

        func run() async throws {
            do {
                try await IngestBenchmark.resume(
                    .init(opsPerBatch: opsPerBatch, authors: 3, totalOps: ops, batchesPerTransaction: 64),
                    directory: data
                ) { stored in
                    // Unbuffered: the line reaches the reader before the next commit starts.
                    FileHandle.standardOutput.write(Data("durable \(stored)\n".utf8))
                }
            } catch {
                printError("streamingchat: \(error)")
                throw ExitCode(2)
            }
            FileHandle.standardOutput.write(Data("done\n".utf8))
        }
    }
}
