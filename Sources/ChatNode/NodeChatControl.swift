import ChatControl
import ChatCore
import ChatCrypto
import Foundation

/// The control commands of the interactive terminal chat (`streamingchat chat`): one snapshot of
/// everything the screen shows, and publishing this node's typing, cursor and presence.
///
/// | command | arguments | result |
/// |---|---|---|
/// | `chat-state` | `conversation`, `after` (a revision, optional), `wait` (ms, ≤ 10,000) | ``ChatState`` |
/// | `publish` | `conversation`, `kind` (`typing`/`cursor`/`presence`/`heartbeat`), kind's fields | `{"conversation","kind"}` |
///
/// `publish` fields: typing — `typing` (`true`/`false`), `message` (optional id being edited);
/// cursor — `message` (focused id, optional), `scrollTop`, `scrollHeight`, `viewportHeight`;
/// presence — `status` (`online`/`away`/`dnd`/`offline`), `text`, `emoji`, `lastActiveAt` (ms).
///
/// With `after`, `chat-state` is a long poll: it answers once the node's ``Node/changes`` revision
/// differs from `after` (any node event: a message, edit, member, typing or cursor update, a peer
/// connecting or leaving, an invitation, an error; or the node stopping) or `wait` ms have
/// passed (default 5,000), so a client redraws at once without polling on a timer.
public enum NodeChatControl {
    /// The commands ``handle(_:node:)`` answers.
    public static let commands = ControlCommand.chatNames

    /// How many of the latest messages `chat-state` returns.
    public static let messageLimit = 200
    /// How many of the latest timeline notes (joins, removals, …) `chat-state` returns.
    public static let noteLimit = 100
    /// The longest a `chat-state` long poll waits.
    public static let maximumWaitMilliseconds: UInt64 = 10_000

    /// Answers `request` when it is one of ``commands``; nil for any other command.
    public static func handle(_ request: ControlRequest, node: Node) async -> ControlResponse? {
        guard commands.contains(request.command) else { return nil }
        do {
            switch request.command {
            case "chat-state":
                if let after = request.arguments["after"] {
                    guard let revision = UInt64(after) else { throw ControlCommandError.invalidArgument("after must be a revision number") }
                    let wait = min(UInt64(request.arguments["wait"] ?? "") ?? 5_000, maximumWaitMilliseconds)
                    _ = await node.changes.wait(after: revision, timeout: .milliseconds(wait), clock: node.configuration.clock)
                }
                return .success(try JSONValue(encoding: try await state(request.arguments, node: node)))
            default:
                return .success(try await publish(request.arguments, node: node))
            }
        } catch let error as NodeCommandError {
            return .failure(code: error.code, message: error.description)
        } catch let error as ControlCommandError {
            return .failure(code: error.code, message: error.description)
        } catch {
            return .failure(code: ControlErrorBody.Code.internalError, message: "\(error)")
        }
    }

    // MARK: - chat-state

    static func state(_ arguments: [String: String], node: Node) async throws -> ChatState {
        // Read first: a change while the state is gathered makes the next long poll answer at once.
        let revision = node.changes.revision
        let conversation = try await node.commands.resolve(try ControlArguments(values: arguments).required("conversation"))
        let rules = try await node.replica(conversation).conversation
        let document = rules.document
        let members = try await node.commands.members(conversation)
        let (log, totalMessages) = try await node.commands.log(conversation, newest: messageLimit)
        let status = await node.commands.status()
        let now = node.configuration.wallClock()
        let registers = await node.ephemeralState(of: conversation)
        let me = node.replicaID

        var names: [ReplicaID: String] = [:]
        var replicas: [String: ReplicaID] = [:]
        for member in members {
            guard let key = try? PublicKey(text: member.key) else { continue }
            replicas[member.key] = key.replicaID
            names[key.replicaID] = member.name ?? "User \(key.replicaID)"
        }
        var everyone = Set(replicas.values)
        for record in document.messages.values { everyone.insert(record.author) }
        let assigned = UserColor.assignColors(members: everyone)
        var colors: [String: String] = [:]
        for user in everyone {
            let chosen = document.profiles[user]?.profile.colour.map(RGB.init(packed:))
            colors[PublicKey(user).text] = (chosen ?? assigned[user] ?? UserColor.color(for: user)).hex
        }

        let rows = members.map { member -> ChatState.Member in
            let replica = replicas[member.key]
            let color = colors[member.key] ?? "#888888"
            return ChatState.Member(key: member.key, name: member.name ?? "User \(replica.map { "\($0)" } ?? member.key)",
                                    permission: member.permission, status: member.status, customStatus: member.customStatus,
                                    color: color, isSelf: member.isSelf, lastSeen: member.lastSeen,
                                    identicon: replica.map { Identicon.svg(for: $0, color: UInt32(color.dropFirst(), radix: 16).map(RGB.init(packed:)) ?? UserColor.color(for: $0)) })
        }
        .sorted { lhs, rhs in
            (rank(lhs.status), lhs.name.lowercased(), lhs.key) < (rank(rhs.status), rhs.name.lowercased(), rhs.key)
        }

        let typing = (registers?.typingOrigins(now: now) ?? []).filter { $0 != me }.compactMap { names[$0] }
        let cursors = (registers?.cursors(now: now) ?? []).compactMap { cursor -> ChatState.CursorEntry? in
            guard cursor.origin != me, let name = names[cursor.origin], let focus = cursor.cursor.focusedMessage else { return nil }
            return ChatState.CursorEntry(key: PublicKey(cursor.origin).text, name: name, message: MessageReference.text(focus))
        }

        let permission = members.first(where: \.isSelf)?.permission
        let canSend = permission.flatMap { Permission(name: $0) }?.canSendMessages ?? false
        let name = { (replica: ReplicaID) -> String in
            names[replica] ?? document.profiles[replica]?.profile.displayName ?? "User \(PublicKey(replica).text.dropFirst(3).prefix(8))"
        }
        let remover = permission == nil ? ChatTimeline.remover(of: me, in: rules.governance) : nil
        let reason: String? = switch permission {
        case nil where remover != nil: "you were removed from this conversation by \(name(remover!))"
        case nil: "not a member of this conversation: sending is disabled"
        case "view"?: "view-only: ask an admin for comment permission (/request)"
        case _ where !canSend: "your permission does not allow sending"
        default: nil
        }
        let held = status.conversations.first { $0.id == conversation.hex }
        let peers = status.peers.filter { $0.conversations.contains(conversation.hex) }.count
        return ChatState(conversation: conversation.hex, title: document.title, me: PublicKey(me).text,
                         myName: names[me], permission: permission ?? "none", canSend: canSend, reason: reason,
                         messages: log, totalMessages: totalMessages, members: rows, colors: colors,
                         typing: typing, cursors: cursors, peers: peers, joining: held?.joining ?? false,
                         pending: held?.pendingBatches ?? 0, now: now, revision: revision,
                         invitations: await node.commands.receivedInvitationList().filter { $0.state == "pending" },
                         notes: ChatTimeline.notes(of: rules.governance, limit: noteLimit, name: name),
                         openRequests: permission == "admin" ? rules.accessRequests.count { !$0.granted } : 0)
    }

    private static func rank(_ status: String) -> Int {
        PresenceStatus.allCases.first { $0.description == status }.map { Int($0.rawValue) } ?? 9
    }

    // MARK: - publish

    static func publish(_ arguments: [String: String], node: Node) async throws -> JSONValue {
        let fields = ControlArguments(values: arguments)
        let conversation = try await node.commands.resolve(try fields.required("conversation"))
        let kind = try fields.required("kind")
        let payload: EphemeralPayload
        switch kind {
        case "typing":
            let message = try await messageID(arguments["message"], in: conversation, node: node)
            payload = .typing(Typing(isTyping: try fields.flag("typing"), message: message))
        case "cursor":
            let message = try await messageID(arguments["message"], in: conversation, node: node)
            payload = .cursor(Cursor(scrollTop: try fields.number("scrollTop", as: UInt32.self) ?? 0,
                                     scrollHeight: try fields.number("scrollHeight", as: UInt32.self) ?? 0,
                                     viewportHeight: try fields.number("viewportHeight", as: UInt32.self) ?? 0,
                                     focusedMessage: message))
        case "presence":
            let name = arguments["status"] ?? "online"
            guard let status = PresenceStatus.allCases.first(where: { $0.description == name }) else {
                throw ControlCommandError.invalidArgument("status must be online, away, dnd or offline, not \(name)")
            }
            let text = arguments["text"].flatMap { $0.isEmpty ? nil : $0 }
            let emoji = arguments["emoji"].flatMap { $0.isEmpty ? nil : $0 }
            guard (text?.utf8.count ?? 0) <= 256, (emoji?.utf8.count ?? 0) <= 256 else {
                throw ControlCommandError.invalidArgument("a custom status and its emoji are at most 256 bytes each")
            }
            var lastActive = node.configuration.wallClock()
            if let text = arguments["lastActiveAt"] {
                guard let value = UInt64(text) else {
                    throw ControlCommandError.invalidArgument("lastActiveAt must be ms since the epoch, not \(text)")
                }
                lastActive = value
            }
            payload = .presence(Presence(status: status, lastActiveAt: lastActive, customStatus: text, statusEmoji: emoji))
        case "heartbeat":
            payload = .heartbeat
        default:
            throw ControlCommandError.invalidArgument("kind must be typing, cursor, presence or heartbeat, not \(kind)")
        }
        try await node.publish(payload, in: conversation)
        return ["conversation": .string(conversation.hex), "kind": .string(kind)]
    }

    private static func messageID(_ text: String?, in conversation: ConversationID, node: Node) async throws -> OpID? {
        guard let text, !text.isEmpty else { return nil }
        return try MessageReference.resolve(text, in: try await node.replica(conversation).document)
    }
}
