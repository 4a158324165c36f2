import ArgumentParser
import ChatNode
import ChatTools
import Foundation

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

        @Argument(help: "The store directory, or a node's data directory (its store/ is checked).")
        var directory: String

        @Flag(help: "Print one JSON object.")
        var json = false

        /// `directory`, or the store inside it when it is a node's data directory.
        var storeDirectory: String {
            let nested = DataDirectory(path: directory).storePath
            let isStore = FileManager.default.fileExists(atPath: directory + "/data.mdb")
            return !isStore && FileManager.default.fileExists(atPath: nested + "/data.mdb") ? nested : directory
        }

        func run() throws {
            let report: StoreCheckReport
            do {
                report = try StoreCheck.run(directory: storeDirectory)
            } catch {
                throw CommandFailure("\(error)", exitCode: 2)
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
