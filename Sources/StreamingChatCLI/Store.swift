import ArgumentParser
import ChatNode
import ChatTools

extension StreamingChat {
    /// `streamingchat store …`: inspect a node's store.
    struct Store: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Inspect a store.", subcommands: [Check.self])
    }
}

extension StreamingChat.Store {
    /// `streamingchat store check <dir> [--json]`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a store read-only and verify every batch's signature, hash and chain.")

        @Argument(help: "The store directory.")
        var directory: String

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            let report: StoreCheckReport
            do {
                report = try StoreCheck.run(directory: directory)
            } catch {
                printError("streamingchat: \(error)")
                throw ExitCode(2)
            }
            if json {
                print(try jsonLine(report))
            } else {
                for conversation in report.conversations {
                    print("conversation \(conversation.conversation): \(conversation.batches) batches, \(conversation.ops) ops, \(conversation.forks) forks")
                    for author in conversation.authors {
                        print("  \(author.author): \(author.batches) batches, \(author.ops) ops")
                    }
                }
                for problem in report.problems { print("problem: \(problem)") }
                print(report.ok ? "ok" : "NOT OK")
            }
            if !report.ok { throw ExitCode(1) }
        }
    }
}
