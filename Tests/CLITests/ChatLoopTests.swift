import ChatControl
import ChatCore
import ChatCrypto
import ChatNode
import Foundation
@testable import StreamingChatCLI
import Testing

/// The chat's event loop in this process, on a pseudo-terminal, against an in-process node served
/// on a control socket by ``NodeChatControl`` and ``NodeControl`` (what the daemon does once
/// `NodeControl` delegates): typing and sending, a peer's message, typing indicator and edit.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ChatLoopTests {
    static func node(_ directory: String, name: String) throws -> Node {
        try Node(configuration: NodeConfiguration(identity: SigningKey.generate(), dataDirectory: directory,
                                                  displayName: name))
    }

    /// Polls `condition` every 20 ms for at most `timeout`.
    static func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DaemonTests.DaemonTestError("timed out waiting for \(what)")
    }

    @Test func chatLoopOnAPseudoTerminal() async throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ana = try Self.node(root + "/a", name: "ana")
        let ben = try Self.node(root + "/b", name: "ben")
        try await ana.start()
        try await ben.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "loop room")
        _ = try await ben.commands.join(token: try await ana.commands.invite(conversation, permission: .comment).bytes, via: address)
        let socket = root + "/control.sock"
        let server = try await ControlServer.start(socketPath: socket) { request in
            if let response = await NodeChatControl.handle(request, node: ana) { return response }
            return await NodeControl.handle(request, node: ana)
        }

        let pty = try ChatTerminalTests.PTY()
        let slave = pty.slave
        let chat = Task {
            let terminal = try RawTerminal(input: slave, output: slave)
            defer { terminal.restore() }
            var loop = ChatLoop(client: ChatClient(socketPath: socket, conversation: conversation.hex),
                                input: slave, output: slave, handlesSignals: false)
            await loop.run()
        }
        defer { chat.cancel() }

        try await Self.eventually("the header") { pty.screen.first?.contains("loop room · 2 members") == true }
        pty.type("hello from the loop")
        try await Self.eventually("the composer") { pty.screen.contains { $0.contains("> hello from the loop") } }
        pty.type("\r")
        try await Self.eventually("ana's message on ben's node") {
            try await ben.commands.log(conversation).contains { $0.text == "hello from the loop" }
        }

        let id = MessageReference.text(try await ben.commands.post("hi from ben", to: conversation))
        try await Self.eventually("ben's message on screen") { pty.screen.contains { $0.contains("ben: hi from ben") } }
        try await ben.publish(.typing(Typing(isTyping: true)), in: conversation)
        try await Self.eventually("ben typing") { pty.screen.contains { $0.contains("ben is typing…") } }
        try await Self.eventually("ben's typing to expire") { !pty.screen.contains { $0.contains("is typing") } }
        try await ben.commands.edit(id, to: "hi again", in: conversation)
        try await Self.eventually("the edit") { pty.screen.contains { $0.contains("ben: hi again (edited)") } }

        // Slash commands: an invite prints the join command line; /audit shows the trail's tail.
        pty.type("/invite view\r")
        try await Self.eventually("the invite") {
            pty.screen.contains { $0.hasPrefix("streamingchat join 'streamingchat://join?token=") }
        }
        pty.type("/audit\r")
        try await Self.eventually("the audit lines") {
            pty.screen.contains { $0.contains("message_edited ben → ben inserted=") }
        }
        pty.type("/edit nonsense text\r")
        try await Self.eventually("the edit's error") { pty.screen.contains { $0.contains("a message id looks like") } }

        // Ben invites ana to a conversation of his: delivered to ana's node, shown in the header,
        // accepted from the chat.
        let side = try await ben.commands.create(title: "side room")
        let invitation = try await ben.commands.createLink(in: side, permission: .edit, invitee: ana.replicaID)
        try await Self.eventually("the invitation in the header") { pty.screen.first?.contains("1 invitation") == true }
        pty.type("/accept \(invitation.tokenID.prefix(8))\r")
        try await Self.eventually("the join", timeout: .seconds(30)) {
            pty.screen.contains { $0.contains("joined \(side.hex.prefix(12))") }
        }
        #expect(try await ana.commands.members(side).contains { $0.isSelf && $0.permission == "edit" })

        pty.type("\u{03}")
        try await Self.eventually("the loop to end", timeout: .seconds(10)) {
            String(decoding: pty.raw.suffix(8), as: UTF8.self).hasSuffix("\u{1B}[?1049l")
        }
        try await chat.value
        pty.close()
        await server.close()
        await ben.stop()
        await ana.stop()
    }
}
