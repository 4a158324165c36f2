import ArgumentParser
import ChatCore
import ChatCrypto
import ChatHTTP
import ChatNode
import ChatTools
import ChatTraces
import Foundation
import Logging

extension StreamingChat {
    /// `streamingchat demo`: three real nodes on loopback share a conversation, write, edit
    /// concurrently, go offline and converge; `--replays` adds the editing traces and simulations.
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run 3 nodes on loopback through a shared conversation with a partition; show them converge.")

        @Flag(help: "Also replay the editing traces and the simulated sessions first.")
        var replays = false

        @Option(help: "Folder of editing traces (.json / .json.gz).")
        var traces = "../shared/traces"

        @Option(help: "Seed of the simulated session.")
        var seed: UInt64 = 2026

        @Flag(help: "Afterwards keep the three nodes running, each with its browser UI on loopback, and print their addresses until Ctrl-C.")
        var ui = false

        func run() async throws {
            if replays { try runReplays() }
            let report: LiveDemoReport
            do {
                // Unbuffered, so the narration shows before the UIs wait.
                report = try await LiveDemo.run(seed: seed, say: { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) },
                                                afterwards: ui ? Self.serveUIs : nil)
            } catch {
                throw CommandFailure("demo failed: \(error)")
            }
            guard report.converged else {
                print("demo: the 3 nodes DIVERGED")
                throw ExitCode(1)
            }
            print("demo: 3 nodes converged on \(report.messages) messages in \(Int(report.convergeMs)) ms")
        }

        /// Serves each demo node's browser UI on a free loopback port, prints a one-time login
        /// address for each, and returns on SIGINT or SIGTERM.
        @Sendable static func serveUIs(_ nodes: [Node], conversation: ConversationID) async {
            let signals = ShutdownSignals(label: "streamingchat.demo.signals")
            defer { signals.cancel() }
            await withTaskGroup(of: Void.self) { group in
                for (node, name) in zip(nodes, ["ana", "ben", "cat"]) {
                    var generator = SystemRandomNumberGenerator()
                    let key = Hex.encode((0 ..< 32).map { _ in UInt8.random(in: 0 ... 255, using: &generator) })
                    let gate = WriteGate()
                    let server = ChatHTTPServer(key: key) { await NodeControl.handle($0, node: node, gate: gate, stop: {}) }
                    group.addTask {
                        var quiet = Logger(label: "streamingchat.demo.http")
                        quiet.logLevel = .critical // cancelling a server at Ctrl-C logs an error that is none
                        try? await server.run(host: "127.0.0.1", port: 0, logger: quiet) { port in
                            var random = SystemRandomNumberGenerator()
                            let nonce = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
                            let code = AccessKey(key).loginCode(now: UInt64(Date().timeIntervalSince1970), nonce: nonce)
                            FileHandle.standardOutput.write(Data(
                                "\(name): http://127.0.0.1:\(port)/login?code=\(code)&conversation=\(conversation.hex)\n".utf8))
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(500))
                    FileHandle.standardOutput.write(Data(
                        "demo: the three nodes keep running; each address logs in once within 5 minutes. Ctrl-C stops them.\n".utf8))
                }
                for await _ in signals.stream { break }
                group.cancelAll()
            }
        }

        private func runReplays() throws {
            var allConverged = true
            let files = (try? FileManager.default.contentsOfDirectory(atPath: traces))?
                .filter { $0.hasSuffix(".json") || $0.hasSuffix(".json.gz") }.sorted() ?? []
            if files.isEmpty {
                print("demo: no traces in \(traces); skipping the trace replays")
            }
            for file in files {
                let report = try measure(path: traces + "/" + file)
                allConverged = allConverged && report.matchesEndContent
                print("""
                    trace \(report.trace) (\(report.kind), \(report.replicas) replica\(report.replicas == 1 ? "" : "s")): \
                    \(report.patches) patches, \(report.ops) ops replayed in \(report.replayMs) ms; \
                    \(report.finalLength) characters, \(report.matchesEndContent ? "identical to" : "DIFFERENT from") \
                    the recorded end state; reloaded from \(report.encodedBytes) bytes in \(report.loadMs) ms \
                    (text first; \(report.completeLoadMs) ms checked whole)
                    """)
            }
            let outcome = try SequenceSimulation.run(.init(replicas: 3, steps: 600, seed: seed))
            allConverged = allConverged && outcome.converged
            print("""
                simulated session (seed \(seed)): 3 replicas made \(outcome.operationsMade) ops; \
                \(outcome.messagesDelivered) messages delivered out of order, \(outcome.duplicatesDelivered) of them duplicates; \
                up to \(outcome.pendingPeak) ops waited for missing origins
                """)
            for (index, text) in outcome.texts.enumerated() {
                print("  replica \(index + 1): \(text.count) characters: \"\(text.prefix(48))\(text.count > 48 ? "…" : "")\"")
            }
            let chat = ConversationSimulation.run(.init(replicas: 5, operations: 1000, seed: seed))
            allConverged = allConverged && chat.converged
            print("""
                simulated conversation (seed \(seed)): 5 members exchanged \(chat.batches) batches, each member \
                receiving them in its own order with duplicates; \(chat.messages) messages visible, \(chat.revocations) members \
                revoked, \(chat.excludedOps) operations excluded by the rules (\(chat.excludedByReason.sorted { $0.key < $1.key }
                    .map { "\($0.key) \($0.value)" }.joined(separator: ", "))); every member sees the same conversation: \
                \(chat.converged ? "yes" : "NO")
                """)
            print("replays: \(allConverged ? "all replicas converged" : "replicas DIVERGED")")
            if !allConverged { throw ExitCode(1) }
        }

        private func measure(path: String) throws -> TraceBenchmarkReport {
            do {
                return try TraceBenchmark.run(path: path, runs: 1)
            } catch {
                throw CommandFailure("\(error)", exitCode: 2)
            }
        }
    }
}
