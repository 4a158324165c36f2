import ArgumentParser

/// The `streamingchat` command: peer-to-peer chat on a CRDT sync engine.
@main
struct StreamingChat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamingchat",
        abstract: "Peer-to-peer real-time chat on a CRDT sync engine.",
        subcommands: [Bench.self, Store.self, Sim.self, Demo.self, Debug.self])
}
