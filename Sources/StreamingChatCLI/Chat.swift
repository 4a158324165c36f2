import ArgumentParser
import ChatControl
import ChatCore
import ChatNode
import Foundation

extension StreamingChat {
    /// `streamingchat chat <conversation>`: an interactive terminal chat on the running node.
    struct Chat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chat", abstract: "Chat interactively in a conversation on the running node.",
            discussion: "Enter sends; Ctrl-C or /quit leaves. " + ChatScreen.help)

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String

        func run() async throws {
            let client = ChatClient(socketPath: dataOptions.directory.controlSocketPath, conversation: conversation)
            let first: ChatState
            switch await client.state() {
            case .success(let state): first = state
            case .failure(let error):
                throw CommandFailure("\(error.message)")
            }
            let terminal: RawTerminal
            do {
                terminal = try RawTerminal()
            } catch {
                throw CommandFailure("\(error)")
            }
            defer { terminal.restore() }
            var loop = ChatLoop(client: ChatClient(socketPath: client.socketPath, conversation: first.conversation))
            loop.screen.state = first
            await loop.run()
        }
    }
}
