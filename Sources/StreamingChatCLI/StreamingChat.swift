import ArgumentParser

/// The `streamingchat` command: peer-to-peer chat on a CRDT sync engine.
@main
struct StreamingChat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamingchat",
        abstract: "Peer-to-peer real-time chat on a CRDT sync engine.",
        subcommands: [Serve.self, Init.self, Create.self, Invite.self, Join.self, Link.self, Invitations.self,
                      Grant.self, Revoke.self, RequestAccess.self, Requests.self, Mode.self, Audit.self,
                      Send.self, Edit.self, Delete.self, Log.self, Members.self, Status.self, Conversations.self, Stop.self, Chat.self,
                      Bench.self, Store.self, Sim.self, Demo.self, Debug.self])
}
