import ArgumentParser
import ChatNode
import ChatTools
import Foundation
import Synchronization

extension StreamingChat {
    /// Hidden commands used by the test suite.
    struct Debug: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Test helpers.", shouldDisplay: false, subcommands: [IngestLoop.self, Fill.self, StreamingChat.DebugRevoke.self])
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
                throw CommandFailure("\(error)", exitCode: 2)
            }
            FileHandle.standardOutput.write(Data("done\n".utf8))
        }
    }
}

extension StreamingChat.Debug {
    /// Makes a conversation of `--messages` messages in DIR (the node must not be running): the
    /// messages are signed at times one conversation rate-limit slot apart (ending now), so every
    /// replica accepts them; a snapshot is saved at the end. Prints the conversation id.
    struct Fill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fill")

        @OptionGroup var dataOptions: DataOptions
        @Option var title = "Filled"
        @Option var messages = 10_000
        @Option var name = "ana"

        func run() async throws {
            let directory = dataOptions.directory
            try directory.create()
            let spacing: UInt64 = 6_001 // 10 messages a minute, the default limit
            let start = UInt64(Date().timeIntervalSince1970 * 1000) - UInt64(messages + 1) * spacing
            let now = Mutex(start)
            var configuration = NodeConfiguration(identity: try directory.loadOrCreateIdentity(), dataDirectory: directory.storePath,
                                                  listen: nil, displayName: name)
            configuration.wallClock = { now.withLock { $0 } }
            let node = try Node(configuration: configuration)
            do {
                let conversation = try await node.commands.create(title: title)
                for index in 0 ..< messages {
                    now.withLock { $0 = start + UInt64(index + 1) * spacing }
                    _ = try await node.commands.post("message \(index + 1) of \(messages)", to: conversation)
                }
                // As a long-lived node would have one: the next start loads it rather than replaying.
                try await node.replica(conversation).saveSnapshot()
                await node.stop()
                print(conversation.hex)
            } catch {
                await node.stop()
                throw error
            }
        }
    }
}
