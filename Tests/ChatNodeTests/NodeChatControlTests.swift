import ChatControl
import ChatCore
import ChatNode
import Foundation
import Testing

/// The terminal chat's control commands on real nodes: `chat-state` (messages, members with
/// presence and colours, typing without oneself, cursors, whether one may send) and `publish`.
@Suite(.timeLimit(.minutes(2))) struct NodeChatControlTests {
    static func state(_ node: Node, _ conversation: ConversationID) async throws -> ChatState {
        let response = await NodeChatControl.handle(
            ControlRequest(command: "chat-state", arguments: ["conversation": String(conversation.hex.prefix(10))]), node: node)
        let result = try #require(response?.result, "\(String(describing: response?.error))")
        return try result.decoded(as: ChatState.self)
    }

    static func publish(_ node: Node, _ conversation: ConversationID, _ arguments: [String: String]) async -> ControlResponse? {
        await NodeChatControl.handle(
            ControlRequest(command: "publish", arguments: arguments.merging(["conversation": conversation.hex]) { $1 }),
            node: node)
    }

    @Test func chatStateAndPublishAcrossNodes() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(61, name: "ana", wallClock: Node.systemWallClock)
        let (ben, benDirectory) = try NodeTests.makeNode(62, name: "ben", wallClock: Node.systemWallClock)
        let (cat, catDirectory) = try NodeTests.makeNode(63, name: "cat", wallClock: Node.systemWallClock)
        defer {
            for directory in [anaDirectory, benDirectory, catDirectory] { try? FileManager.default.removeItem(atPath: directory) }
        }
        try await ana.start()
        try await ben.start()
        try await cat.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "team")
        _ = try await ben.commands.join(token: try await ana.commands.invite(conversation, permission: .comment).bytes, via: address)
        _ = try await cat.commands.join(token: try await ana.commands.invite(conversation, permission: .view).bytes, via: address)
        let message = MessageReference.text(try await ben.commands.post("hi from ben", to: conversation))

        #expect(await NodeChatControl.handle(ControlRequest(command: "status"), node: ana) == nil)

        try await NodeTests.eventually("ana to hold ben's message and all three members") {
            let state = try await Self.state(ana, conversation)
            return state.messages.contains { $0.text == "hi from ben" } && state.members.count == 3
        }
        let first = try await Self.state(ana, conversation)
        #expect(first.title == "team")
        #expect(first.canSend && first.reason == nil && first.permission == "admin")
        #expect(first.members.first?.status == "online")
        #expect(Set(first.members.map(\.color)).count == 3)
        #expect(first.members.allSatisfy { $0.color.hasPrefix("#") && $0.color.count == 7 })
        #expect(first.members.allSatisfy { first.colors[$0.key] == $0.color })

        // Ben types, reads a message and goes dnd; ana sees it all, ben does not see himself typing.
        #expect(await Self.publish(ben, conversation, ["kind": "typing", "typing": "true"])?.ok == true)
        #expect(await Self.publish(ben, conversation, ["kind": "cursor", "message": message, "scrollHeight": "1",
                                                       "viewportHeight": "20"])?.ok == true)
        #expect(await Self.publish(ben, conversation, ["kind": "presence", "status": "dnd", "text": "focus"])?.ok == true)
        try await NodeTests.eventually("ana to see ben typing, reading and dnd") {
            let state = try await Self.state(ana, conversation)
            let benRow = state.members.first { $0.name == "ben" }
            return state.typing == ["ben"] && state.cursors.contains { $0.name == "ben" && $0.message == message }
                && benRow?.status == "dnd" && benRow?.customStatus == "focus"
        }
        #expect(try await Self.state(ben, conversation).typing.isEmpty)
        #expect(await Self.publish(ben, conversation, ["kind": "typing", "typing": "false"])?.ok == true)
        try await NodeTests.eventually("ben's typing to stop on ana") { try await Self.state(ana, conversation).typing.isEmpty }

        // Cat is view-only: told why it cannot send.
        try await NodeTests.eventually("cat to learn its permission") {
            try await Self.state(cat, conversation).permission == "view"
        }
        let catState = try await Self.state(cat, conversation)
        #expect(!catState.canSend)
        #expect(catState.reason == "view-only: ask an admin for comment permission (/request)")

        let bad = await Self.publish(ana, conversation, ["kind": "smoke"])
        #expect(bad?.ok == false && bad?.error?.code == "invalid_argument")
        let missing = await NodeChatControl.handle(ControlRequest(command: "chat-state"), node: ana)
        #expect(missing?.error?.code == "missing_argument")

        await cat.stop()
        await ben.stop()
        await ana.stop()
    }

    /// Issue 19: the chat's timeline tells joins, grants, access requests and removals, the
    /// admin sees the open request counted, and a removed member learns who removed it.
    @Test func timelineNotesAndRemovalReason() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(64, name: "ana", wallClock: Node.systemWallClock)
        let (ben, benDirectory) = try NodeTests.makeNode(65, name: "ben", wallClock: Node.systemWallClock)
        defer { for directory in [anaDirectory, benDirectory] { try? FileManager.default.removeItem(atPath: directory) } }
        try await ana.start()
        try await ben.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "team")
        _ = try await ben.commands.join(token: try await ana.commands.invite(conversation, permission: .view).bytes, via: address)
        try await ben.commands.requestAccess(.comment, note: "let me talk", in: conversation)
        try await NodeTests.eventually("ana to hold ben's request") {
            try await Self.state(ana, conversation).openRequests == 1
        }
        try await ana.commands.grant(.comment, to: ben.replicaID, in: conversation)
        try await ana.commands.revoke(ben.replicaID, in: conversation)
        try await NodeTests.eventually("ben to learn he was removed") {
            try await Self.state(ben, conversation).reason == "you were removed from this conversation by ana"
        }
        let notes = try await Self.state(ana, conversation).notes.map(\.text)
        #expect(notes == ["ana created “team”", "ben joined as view", "ben asked for comment access: “let me talk”",
                          "ana made ben comment", "ana removed ben"], "\(notes)")
        #expect(try await Self.state(ana, conversation).openRequests == 0)
    }
}
