import ChatControl
@testable import ChatHTTP
import ChatNode
import Testing

/// The WebSocket stream's events (issue 17), found by comparing two chat states: each change
/// gives its event in the product plan's names, and nothing else does.
struct ChatEventsTests {
    @Test func eachChangeGivesItsEvent() throws {
        let before = try ChatScreenTests.state(typing: [])
        var after = before
        after.revision = 7
        after.messages[0].text = "hello, edited"
        after.messages[0].edited = true
        after.messages.append(try ChatScreenTests.entry("cccccccccccccccc:9", "sc1ben", "ben", "new one"))
        after.members[1].status = "online"
        after.members[1].permission = "edit"
        after.members.append(ChatState.Member(key: "sc1cat", name: "cat", permission: "view", status: "online",
                                              customStatus: nil, color: "#123456", isSelf: false))
        after.typing = ["ben"]
        after.cursors = [ChatState.CursorEntry(key: "sc1ben", name: "ben", message: "cccccccccccccccc:9")]
        let events = ChatEvents.between(before, after)
        let types = events.compactMap { event -> String? in
            guard case .object(let object) = event, case .string(let type)? = object["type"] else { return nil }
            return type
        }
        #expect(types == ["message_edited", "message_received", "permission_changed", "presence_changed", "user_joined",
                          "user_typing", "cursor_update"])
        #expect(events.allSatisfy { event in
            guard case .object(let object) = event, case .int(7)? = object["revision"] else { return false }
            return true
        })
        // And back: the member leaves, the typing stops, the message is deleted.
        var later = after
        later.revision = 8
        later.members.removeLast()
        later.typing = []
        later.messages[3].deleted = true
        let back = ChatEvents.between(after, later).compactMap { event -> String? in
            guard case .object(let object) = event, case .string(let type)? = object["type"] else { return nil }
            return type
        }
        #expect(back == ["message_deleted", "user_left", "user_stopped_typing"])
        #expect(ChatEvents.between(later, later).isEmpty)
    }

    @Test(arguments: [
        (["type": "send_message", "text": "hi"] as [String: String], "send"),
        (["type": "start_typing"], "publish"), (["type": "stop_typing"], "publish"),
        (["type": "cursor_moved", "message": "aaaaaaaa:3"], "publish"), (["type": "presence_update", "status": "away"], "publish"),
        (["type": "heartbeat"], "publish"),
    ])
    func clientEventsBecomeCommands(event: [String: String], command: String) throws {
        let request = try ChatEvents.request(for: event, conversation: "9f3a").get()
        #expect(request.command == command)
        #expect(request.arguments["conversation"] == "9f3a")
    }

    @Test func unknownOrIncompleteClientEventsAreRefused() {
        for event: [String: Any] in [["type": "dance"], ["type": "send_message"], ["text": "no type"]] {
            if case .success = ChatEvents.request(for: event, conversation: "9f3a") { Issue.record("\(event) was accepted") }
        }
    }
}
