import ArgumentParser
import ChatTraces

extension StreamingChat.Bench {
    /// `streamingchat bench conversation`: materialize a long conversation from ops and from its snapshot.
    struct ConversationCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "conversation",
            abstract: "Build a conversation of many edited messages from its operations, then from its snapshot.")

        @Option(help: "Messages.")
        var messages = 100_000

        @Option(help: "Edits per message.")
        var edits = 5

        @OptionGroup var output: ReportOptions

        func validate() throws {
            guard (1 ... 10_000_000).contains(messages) else { throw ValidationError("--messages must be 1 … 10000000") }
            guard (0 ... 1000).contains(edits) else { throw ValidationError("--edits must be 0 … 1000") }
        }

        func run() throws {
            let report = try ConversationBenchmark.run(messages: messages, editsPerMessage: edits)
            try output.print(report) { report in
                [
                    ("messages", "\(report.messages)"), ("edits per message", "\(report.editsPerMessage)"),
                    ("ops", "\(report.ops)"), ("materialize from ops", "\(report.materializeMs) ms"),
                    ("load from snapshot", "\(report.snapshotLoadMs) ms"), ("snapshot", "\(report.snapshotBytes) bytes"),
                    ("read every message's text after the load", "\(report.textReadMs) ms"),
                    ("peak RSS", "\(report.peakRSSBytes / 1024 / 1024) MiB"),
                    ("visible state digest (matches after reload)", report.stateDigest),
                ]
            }
        }
    }
}
