import ChatCore
import ChatCrypto
import Foundation

/// Maps control-socket requests to ``Node`` calls: the daemon's whole command surface, so that a test
/// can drive a node exactly as the CLI does.
///
/// Requests name their inputs in `arguments` (all strings):
///
/// | command | arguments | result |
/// |---|---|---|
/// | `create` | `title`, `public` (`true`/`false`) | `{"conversation"}` |
/// | `invite` | `conversation`, `permission`, `expiresAt` (ms), `useLimit`, `label` | `{"conversation","token"}` (hex) |
/// | `join` | `token` (hex), `address` (`host:port`, optional), `timeout` (s) | `{"conversation"}` |
/// | `send` | `conversation`, `text` | `{"conversation","id"}` |
/// | `edit` | `conversation`, `message`, `text` | `{"conversation","id"}` |
/// | `delete` | `conversation`, `message` | `{"conversation","id"}` |
/// | `revoke` | `conversation`, `member` (sc1…) | `{"conversation","member"}` |
/// | `log` | `conversation` | `{"conversation","messages":[LogEntry]}` |
/// | `members` | `conversation` | `{"conversation","members":[MemberEntry]}` |
/// | `status` | — | ``NodeStatus`` |
/// | `conversations` | — | `{"conversations":[{"id","title","messages","members","joining"}]}` |
/// | `stop` | — | `{"stopping":true}` |
///
/// Conversations may be given by an unambiguous id prefix. Failures carry ``NodeCommandError/code``
/// (or `unknown_command`, `missing_argument`, `invalid_argument`) and a sentence.
public enum NodeControl {
    /// Every command ``handle(_:node:stop:)`` understands.
    public static let commands = ["create", "invite", "join", "send", "edit", "delete", "revoke", "log", "members",
                                  "status", "conversations", "stop"]

    /// Commands that sign operations into a log: run one at a time through a ``WriteGate``.
    static let writes: Set<String> = ["create", "send", "edit", "delete", "revoke"]

    /// Answers one request against `node`; `stop` is called for the `stop` command (after which the
    /// caller shuts the daemon down). Give every request of one node the same `gate` so that
    /// concurrent writes reach the node one at a time.
    public static func handle(_ request: ControlRequest, node: Node, gate: WriteGate? = nil,
                              stop: @Sendable () -> Void = {}) async -> ControlResponse {
        let gated = writes.contains(request.command) ? gate : nil
        await gated?.acquire()
        let response = await respond(to: request, node: node, stop: stop)
        await gated?.release()
        return response
    }

    private static func respond(to request: ControlRequest, node: Node, stop: @Sendable () -> Void) async -> ControlResponse {
        do {
            return .success(try await result(of: request, node: node, stop: stop))
        } catch let error as NodeCommandError {
            return .failure(code: error.code, message: error.description)
        } catch let error as ControlCommandError {
            return .failure(code: error.code, message: error.description)
        } catch {
            return .failure(code: ControlErrorBody.Code.internalError, message: "\(error)")
        }
    }

    private static func result(of request: ControlRequest, node: Node, stop: @Sendable () -> Void) async throws -> JSONValue {
        let arguments = Arguments(values: request.arguments)
        switch request.command {
        case "create":
            let id = try await node.create(title: try arguments.required("title"),
                                           isPublic: try arguments.flag("public"))
            return ["conversation": .string(id.hex)]
        case "invite":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let permissionName = arguments.optional("permission") ?? "comment"
            guard let permission = Permission(name: permissionName) else {
                throw ControlCommandError.invalidArgument("permission must be view, comment, edit or admin, not \(permissionName)")
            }
            let token = try await node.invite(conversation, permission: permission,
                                              expiresAt: try arguments.number("expiresAt", as: UInt64.self),
                                              useLimit: try arguments.number("useLimit", as: UInt32.self),
                                              label: arguments.optional("label") ?? "")
            return ["conversation": .string(conversation.hex), "token": .string(Hex.encode(token.bytes))]
        case "join":
            let tokenText = try arguments.required("token")
            guard let token = Hex.decode(tokenText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw NodeCommandError.invalidToken("it is not hexadecimal")
            }
            var endpoint: PeerEndpoint?
            if let address = arguments.optional("address") {
                guard let parsed = PeerEndpoint(address) else {
                    throw ControlCommandError.invalidArgument("an address looks like host:port, not \(address)")
                }
                endpoint = parsed
            }
            let seconds = try arguments.number("timeout", as: UInt32.self) ?? 15
            let conversation = try await node.join(token: token, via: endpoint, timeout: .seconds(Int(seconds)))
            return ["conversation": .string(conversation.hex)]
        case "send":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let id = try await node.post(try arguments.required("text"), to: conversation)
            return ["conversation": .string(conversation.hex), "id": .string(MessageReference.text(id))]
        case "edit":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let message = try arguments.required("message")
            try await node.edit(message, to: try arguments.required("text"), in: conversation)
            return ["conversation": .string(conversation.hex), "id": .string(message)]
        case "delete":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let message = try arguments.required("message")
            try await node.delete(message, in: conversation)
            return ["conversation": .string(conversation.hex), "id": .string(message)]
        case "revoke":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let memberText = try arguments.required("member")
            guard let member = try? PublicKey(text: memberText) else {
                throw ControlCommandError.invalidArgument("a member is named by their key, sc1…, not \(memberText)")
            }
            guard try await node.members(conversation).contains(where: { $0.key == member.text }) else {
                throw ControlCommandError.invalidArgument("\(memberText) is not a member of this conversation")
            }
            guard try await node.members(conversation).contains(where: { $0.isSelf && $0.permission == "admin" }) else {
                throw NodeCommandError.notPermitted("only admins can revoke members")
            }
            try await node.submit([.removeMember(member: member.replicaID)], to: conversation)
            return ["conversation": .string(conversation.hex), "member": .string(member.text)]
        case "log":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let messages = try await node.log(conversation)
            return ["conversation": .string(conversation.hex), "messages": try JSONValue(encoding: messages)]
        case "members":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let members = try await node.members(conversation)
            return ["conversation": .string(conversation.hex), "members": try JSONValue(encoding: members)]
        case "status":
            return try JSONValue(encoding: await node.status())
        case "conversations":
            let status = await node.status()
            return ["conversations": .array(status.conversations.map { conversation in
                ["id": .string(conversation.id), "title": .string(conversation.title),
                 "messages": .int(conversation.messages), "members": .int(conversation.members),
                 "joining": .bool(conversation.joining)]
            })]
        case "stop":
            stop()
            return ["stopping": true]
        default:
            throw ControlCommandError.unknownCommand(request.command)
        }
    }
}

/// Lets one write command at a time into a node, in arrival order.
///
/// `Node.post` and `Node.submit` are not safe to call concurrently for one conversation: the
/// replica's flush suspends while it ingests, so a second caller can find its operation sealed
/// into the first caller's batch (and fail with `no_local_author`) or be handed the other
/// caller's batch (and report the other message's id). Until the node serializes local writes
/// itself, the daemon funnels control writes through one gate.
public actor WriteGate {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// An open gate.
    public init() {}

    /// Waits for the gate; returns holding it.
    func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the gate to the next waiter, or opens it.
    func release() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}

/// A control request the node could not even start on. Stable `code`s.
enum ControlCommandError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownCommand(String)
    case missingArgument(String)
    case invalidArgument(String)

    var code: String {
        switch self {
        case .unknownCommand: "unknown_command"
        case .missingArgument: "missing_argument"
        case .invalidArgument: "invalid_argument"
        }
    }

    var description: String {
        switch self {
        case .unknownCommand(let name):
            "unknown command \(name); the node understands \(NodeControl.commands.joined(separator: ", "))"
        case .missingArgument(let name): "the request needs the argument \(name)"
        case .invalidArgument(let reason): reason
        }
    }
}

/// Typed access to a request's string arguments.
private struct Arguments {
    var values: [String: String]

    func optional(_ name: String) -> String? { values[name] }

    func required(_ name: String) throws(ControlCommandError) -> String {
        guard let value = values[name] else { throw .missingArgument(name) }
        return value
    }

    func flag(_ name: String) throws(ControlCommandError) -> Bool {
        switch values[name] {
        case nil, "false": false
        case "true": true
        case let other?: throw .invalidArgument("\(name) must be true or false, not \(other)")
        }
    }

    func number<T: FixedWidthInteger>(_ name: String, as type: T.Type) throws(ControlCommandError) -> T? {
        guard let text = values[name] else { return nil }
        guard let value = T(text) else { throw .invalidArgument("\(name) must be a whole number in range, not \(text)") }
        return value
    }
}
