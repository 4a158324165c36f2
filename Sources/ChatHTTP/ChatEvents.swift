import ChatControl
import ChatNode

/// The WebSocket event stream's events, in the product plan's names, found by comparing two
/// chat states of one conversation (the node's long-polled `chat-state`). Pure.
///
/// `message_received`, `message_edited`, `message_deleted`, `user_joined`, `user_left`,
/// `permission_changed`, `presence_changed`, `user_typing`, `user_stopped_typing`,
/// `cursor_update`; each is `{"type", "revision", …}`.
enum ChatEvents {
    /// The events that lead from `old` to `new` (none for the first state: the stream opens with
    /// the whole state instead).
    /// - Complexity: O(messages + members) of the two states.
    static func between(_ old: ChatState, _ new: ChatState) -> [JSONValue] {
        var events: [JSONValue] = []
        func event(_ type: String, _ fields: [String: JSONValue]) {
            var object = fields
            object["type"] = .string(type)
            object["revision"] = .int(Int(clamping: new.revision))
            events.append(.object(object))
        }
        let before = Dictionary(old.messages.map { ($0.id, $0) }) { first, _ in first }
        for message in new.messages {
            let fields = (try? JSONValue(encoding: message)).map { ["message": $0] } ?? [:]
            guard let earlier = before[message.id] else {
                event("message_received", fields)
                continue
            }
            if message.deleted, !earlier.deleted {
                event("message_deleted", ["id": .string(message.id)])
            } else if message.text != earlier.text {
                event("message_edited", fields)
            }
        }
        let members = Dictionary(old.members.map { ($0.key, $0) }) { first, _ in first }
        let remaining = Set(new.members.map(\.key))
        for member in new.members {
            let fields: [String: JSONValue] = (try? JSONValue(encoding: member)).map { ["member": $0] } ?? [:]
            guard let earlier = members[member.key] else {
                event("user_joined", fields)
                continue
            }
            if member.permission != earlier.permission { event("permission_changed", fields) }
            if member.status != earlier.status || member.customStatus != earlier.customStatus {
                event("presence_changed", fields)
            }
        }
        for member in old.members where !remaining.contains(member.key) {
            event("user_left", ["key": .string(member.key), "name": .string(member.name)])
        }
        let typingBefore = Set(old.typing), typingNow = Set(new.typing)
        for name in new.typing where !typingBefore.contains(name) { event("user_typing", ["name": .string(name)]) }
        for name in old.typing where !typingNow.contains(name) { event("user_stopped_typing", ["name": .string(name)]) }
        let cursors = Dictionary(old.cursors.map { ($0.key, $0.message) }) { first, _ in first }
        for cursor in new.cursors where cursors[cursor.key] != cursor.message {
            event("cursor_update", ["key": .string(cursor.key), "name": .string(cursor.name), "message": .string(cursor.message)])
        }
        return events
    }

    /// The control request a client event asks for, or why it is not one. Client events:
    /// `send_message {text}`, `start_typing`, `stop_typing`, `cursor_moved {message}`,
    /// `presence_update {status, text}`, `heartbeat`.
    static func request(for event: [String: Any], conversation: String) -> Result<ControlRequest, EventError> {
        guard let type = event["type"] as? String else { return .failure(EventError("an event needs a type")) }
        func publish(_ arguments: [String: String]) -> ControlRequest {
            ControlRequest(command: "publish", arguments: arguments.merging(["conversation": conversation]) { $1 })
        }
        switch type {
        case "send_message":
            guard let text = event["text"] as? String else { return .failure(EventError("send_message needs text")) }
            return .success(ControlCommand.send(conversation: conversation, text: text).request)
        case "start_typing", "stop_typing":
            return .success(publish(["kind": "typing", "typing": String(type == "start_typing")]))
        case "cursor_moved":
            var arguments = ["kind": "cursor"]
            arguments["message"] = event["message"] as? String
            return .success(publish(arguments))
        case "presence_update":
            var arguments = ["kind": "presence", "status": event["status"] as? String ?? "online"]
            arguments["text"] = event["text"] as? String
            return .success(publish(arguments))
        case "heartbeat":
            return .success(publish(["kind": "heartbeat"]))
        default:
            return .failure(EventError("unknown event type \(type); the client events are send_message, start_typing, "
                + "stop_typing, cursor_moved, presence_update and heartbeat"))
        }
    }

    struct EventError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }
}
