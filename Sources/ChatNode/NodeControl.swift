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
/// | `join` | `token` (hex, share link URL, a received invitation's token id prefix, or with `address` a public conversation's whole id), `address` (`host:port`, optional), `timeout` (s) | `{"conversation"}` |
/// | `decline` | `token` (hex or URL), `address` (optional), `timeout` (s) | `{"conversation"}` |
/// | `link_create` | `conversation`, `permission`, `expiresAt` (ms), `useLimit`, `label`, `invitee` (sc1… or a display name, optional) | ``ShareLink`` |
/// | `link_list` | `conversation` | `{"links":[LinkEntry]}` |
/// | `link_revoke` | `conversation`, `token` (token id prefix) | `{"conversation","tokenID"}` |
/// | `invitations` | `conversation` | `{"invitations":[LinkEntry]}` (direct invitations only) |
/// | `invitations_received` | — | `{"invitations":[ReceivedInvitationEntry]}` (delivered to this node) |
/// | `grant` | `conversation`, `member` (sc1… or a member's display name), `permission` | `{"conversation","member","permission"}` |
/// | `request_access` | `conversation`, `permission`, `note` | `{"conversation","permission"}` |
/// | `requests` | `conversation` | `{"requests":[AccessRequestEntry]}` |
/// | `mode` | `conversation`, `public` (`true`/`false`) | `{"conversation","public"}` |
/// | `audit` | `conversation`, `user` (sc1… or a display name), `actions` (comma-separated), `since`, `until` (ms), `format` (`json`/`csv`) | `{"conversation","entries":[{"at","action","actor","actorName","target","targetName","message","detail","opID"}]}` (keys sc1…) or `{"conversation","csv"}` |
/// | `send` | `conversation`, `text` | `{"conversation","id"}` |
/// | `edit` | `conversation`, `message`, `text` | `{"conversation","id"}` |
/// | `delete` | `conversation`, `message` | `{"conversation","id"}` |
/// | `revoke` | `conversation`, `member` (sc1… or a member's display name) | `{"conversation","member"}` |
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
    public static let commands = ["create", "invite", "join", "decline", "send", "edit", "delete", "revoke", "grant",
                                  "link_create", "link_list", "link_revoke", "invitations", "invitations_received", "request_access", "requests",
                                  "mode", "audit", "log", "members", "status", "conversations", "stop"] + NodeChatControl.commands

    /// Commands that sign operations into a log: run one at a time through a ``WriteGate``.
    static let writes: Set<String> = ["create", "send", "edit", "delete", "revoke", "grant", "link_create", "link_revoke",
                                      "request_access", "mode"]

    /// Answers one request against `node`; `stop` is called for the `stop` command (after which the
    /// caller shuts the daemon down). Give every request of one node the same `gate` so that
    /// concurrent writes reach the node one at a time.
    public static func handle(_ request: ControlRequest, node: Node, gate: WriteGate? = nil,
                              stop: @Sendable () -> Void = {}) async -> ControlResponse {
        // The interactive chat's state and ephemeral updates (not log writes: not gated).
        if let response = await NodeChatControl.handle(request, node: node) { return response }
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
        case "join", "decline":
            let endpoint = try arguments.endpoint()
            let timeout = Duration.seconds(Int(try arguments.number("timeout", as: UInt32.self) ?? 15))
            // A whole conversation id (64 hex digits) with an address: join a public conversation.
            if request.command == "join", let endpoint, let id = ConversationID(hex: try arguments.required("token")) {
                try await node.joinPublic(id, via: endpoint, timeout: timeout)
                return ["conversation": .string(id.hex)]
            }
            let token = try await node.receivedInvitationToken(matching: try arguments.required("token")) ?? arguments.token()
            let conversation = request.command == "join"
                ? try await node.join(token: token, via: endpoint, timeout: timeout)
                : try await node.decline(token: token, via: endpoint, timeout: timeout)
            return ["conversation": .string(conversation.hex)]
        case "link_create":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            var invitee: ReplicaID?
            if let text = arguments.optional("invitee") { invitee = try await node.person(text) }
            let link = try await node.createLink(in: conversation, permission: try arguments.permission(default: .view),
                                                 expiresAt: try arguments.number("expiresAt", as: UInt64.self),
                                                 useLimit: try arguments.number("useLimit", as: UInt32.self),
                                                 label: arguments.optional("label") ?? "",
                                                 invitee: invitee)
            return try JSONValue(encoding: link)
        case "link_list":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            return ["links": try JSONValue(encoding: try await node.links(of: conversation))]
        case "invitations":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let invitations = try await node.links(of: conversation).filter { $0.invitee != nil }
            return ["invitations": try JSONValue(encoding: invitations)]
        case "invitations_received":
            return ["invitations": try JSONValue(encoding: await node.receivedInvitationList())]
        case "link_revoke":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let prefix = try arguments.required("token")
            try await node.revokeLink(prefix, in: conversation)
            let tokenID = try await node.links(of: conversation).first { $0.tokenID.hasPrefix(prefix.lowercased()) }?.tokenID
            return ["conversation": .string(conversation.hex), "tokenID": .string(tokenID ?? prefix)]
        case "grant":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let member = PublicKey(try await node.person(try arguments.required("member"), in: conversation))
            guard try await node.members(conversation).contains(where: { $0.key == member.text }) else {
                throw ControlCommandError.invalidArgument("\(member.text) is not a member of this conversation")
            }
            let permission = try arguments.permission(default: nil)
            try await node.grant(permission, to: member.replicaID, in: conversation)
            return ["conversation": .string(conversation.hex), "member": .string(member.text),
                    "permission": .string(permission.description)]
        case "request_access":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let permission = try arguments.permission(default: nil)
            try await node.requestAccess(permission, note: arguments.optional("note") ?? "", in: conversation)
            return ["conversation": .string(conversation.hex), "permission": .string(permission.description)]
        case "requests":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            return ["requests": try JSONValue(encoding: try await node.accessRequests(of: conversation))]
        case "mode":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            let isPublic = try arguments.flag("public")
            try await node.setMode(public: isPublic, in: conversation)
            return ["conversation": .string(conversation.hex), "public": .bool(isPublic)]
        case "audit":
            let conversation = try await node.resolve(try arguments.required("conversation"))
            // The user by key or by a display name in the conversation, as grant and revoke take it.
            var user: ReplicaID?
            if let text = arguments.optional("user") { user = try await node.person(text, in: conversation) }
            let filter = try arguments.auditFilter(user: user)
            switch arguments.optional("format") ?? "json" {
            case "json":
                let entries = try await node.audit(conversation, filter: filter)
                let profiles = try await node.replica(conversation).document.profiles
                let names = profiles.mapValues(\.profile.displayName)
                return ["conversation": .string(conversation.hex),
                        "entries": .array(entries.map { auditJSON($0, names: names) })]
            case "csv":
                let csv = try await node.auditCSV(conversation, filter: filter)
                return ["conversation": .string(conversation.hex), "csv": .string(csv)]
            case let other:
                throw ControlCommandError.invalidArgument("format must be json or csv, not \(other)")
            }
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
            let member = PublicKey(try await node.person(try arguments.required("member"), in: conversation))
            guard try await node.members(conversation).contains(where: { $0.key == member.text }) else {
                throw ControlCommandError.invalidArgument("\(member.text) is not a member of this conversation")
            }
            try await node.revoke(member.replicaID, in: conversation)
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

extension NodeControl {
    /// An audit entry as `audit --json` shows it: `at`, `action`, `actor` and `target` as keys
    /// (sc1…, like `members`), `message` and `opID` as `log` shows message ids, `detail`.
    static func auditJSON(_ entry: AuditEntry, names: [ReplicaID: String] = [:]) -> JSONValue {
        var object: [String: JSONValue] = [
            "at": .int(Int(clamping: entry.at)), "action": .string(entry.action.rawValue),
            "actor": .string(PublicKey(entry.actor).text), "detail": .string(entry.detail),
        ]
        if let name = names[entry.actor] { object["actorName"] = .string(name) }
        if let target = entry.target {
            object["target"] = .string(PublicKey(target).text)
            if let name = names[target] { object["targetName"] = .string(name) }
        }
        if let message = entry.message { object["message"] = .string(MessageReference.text(message)) }
        if let opID = entry.opID { object["opID"] = .string(MessageReference.text(opID)) }
        return .object(object)
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

    /// `permission` by name, or `fallback` when absent (required when `fallback` is nil).
    func permission(default fallback: Permission?) throws(ControlCommandError) -> Permission {
        guard let name = values["permission"] else {
            guard let fallback else { throw .missingArgument("permission") }
            return fallback
        }
        guard let permission = Permission(name: name) else {
            throw .invalidArgument("permission must be view, comment, edit or admin, not \(name)")
        }
        return permission
    }

    /// A public key (sc1…) argument.
    func key(_ name: String) throws(ControlCommandError) -> PublicKey {
        guard let key = try optionalKey(name) else { throw .missingArgument(name) }
        return key
    }

    /// A public key (sc1…) argument, nil when absent.
    func optionalKey(_ name: String) throws(ControlCommandError) -> PublicKey? {
        guard let text = values[name] else { return nil }
        guard let key = try? PublicKey(text: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw .invalidArgument("\(name) must be a public key, sc1…, not \(text)")
        }
        return key
    }

    /// The `token` argument: a share link URL or bare hex.
    func token() throws -> [UInt8] {
        let text = try required("token").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let token = ShareLink.tokenBytes(from: text) else {
            throw NodeCommandError.invalidToken("it is neither a streamingchat://join link nor hexadecimal")
        }
        return token
    }

    /// The optional `address` argument (`host:port`).
    func endpoint() throws(ControlCommandError) -> PeerEndpoint? {
        guard let address = values["address"] else { return nil }
        guard let endpoint = PeerEndpoint(address) else {
            throw .invalidArgument("an address looks like host:port, not \(address)")
        }
        return endpoint
    }

    /// The audit filter of `user` (resolved by the caller), `actions` (comma-separated raw values),
    /// `since` and `until`.
    func auditFilter(user: ReplicaID?) throws(ControlCommandError) -> AuditFilter {
        var actions: Set<AuditAction>?
        if let text = values["actions"] {
            var parsed = Set<AuditAction>()
            for name in text.split(separator: ",") {
                guard let action = AuditAction(rawValue: String(name)) else {
                    let known = AuditAction.allCases.map(\.rawValue).joined(separator: ", ")
                    throw .invalidArgument("unknown audit action \(name); the actions are \(known)")
                }
                parsed.insert(action)
            }
            actions = parsed
        }
        return AuditFilter(user: user, actions: actions,
                           since: try number("since", as: UInt64.self), until: try number("until", as: UInt64.self))
    }
}
