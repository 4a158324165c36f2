import ArgumentParser

/// The `streamingchat` command: peer-to-peer chat on a CRDT sync engine.
@main
struct StreamingChat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamingchat",
        abstract: "Peer-to-peer real-time chat on a CRDT sync engine.",
        groupedSubcommands: [
            CommandGroup(name: "Node", subcommands: [Serve.self, Init.self, Status.self, UI.self, Stop.self]),
            CommandGroup(name: "Conversations", subcommands: [
                Create.self, Conversations.self, Send.self, Edit.self, Delete.self, Log.self, Members.self, Mode.self,
                Audit.self,
            ]),
            CommandGroup(name: "Sharing", subcommands: [
                Invite.self, Join.self, Link.self, Invitations.self, Grant.self, Revoke.self, RequestAccess.self, Requests.self,
            ]),
            CommandGroup(name: "Chat", subcommands: [Chat.self]),
            CommandGroup(name: "Tools", subcommands: [Bench.self, Store.self, Sim.self, Demo.self, Debug.self]),
        ])
}
