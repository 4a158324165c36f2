import ArgumentParser

extension StreamingChat {
    /// `streamingchat bench …`: measurements used by the README, tests and checks.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the engine.",
            subcommands: [Trace.self, Ingest.self, ConversationCommand.self, Sync.self, Cluster.self])
    }
}
