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
    public static let commands = ["chat-state", "publish"]

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
        let conversation = try await node.commands.resolve(try Arguments(values: arguments).required("conversation"))
        let rules = try await node.replica(conversation).conversation
        let document = rules.document
        let members = try await node.commands.members(conversation)
        let (log, totalMessages) = try await node.commands.log(conversation, newest: messageLimit)
        let status = await node.status()
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
        let fields = Arguments(values: arguments)
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

/// What `chat-state` returns: everything the terminal chat draws, in one answer.
public struct ChatState: Sendable, Hashable, Codable {
    /// A member as the chat's member list shows it.
    public struct Member: Sendable, Hashable, Codable {
        /// The member's public key (sc1…).
        public var key: String
        /// The display name (or "User" and a key prefix).
        public var name: String
        /// view, comment, edit or admin.
        public var permission: String
        /// online, away, dnd or offline.
        public var status: String
        /// The presence's custom status, else the profile's.
        public var customStatus: String?
        /// The member's colour, `#RRGGBB`.
        public var color: String
        /// True for this node.
        public var isSelf: Bool
        /// When this node last heard from the member (ms since the Unix epoch), if ever.
        public var lastSeen: UInt64?
        /// The member's generated avatar, an SVG document (``Identicon``) in their colour.
        public var identicon: String?

        /// A member row.
        public init(key: String, name: String, permission: String, status: String, customStatus: String?,
                    color: String, isSelf: Bool, lastSeen: UInt64? = nil, identicon: String? = nil) {
            self.key = key
            self.name = name
            self.permission = permission
            self.status = status
            self.customStatus = customStatus
            self.color = color
            self.isSelf = isSelf
            self.lastSeen = lastSeen
            self.identicon = identicon
        }
    }

    /// A line of the timeline between messages: a join, a removal, a permission change, …
    public struct Note: Sendable, Hashable, Codable {
        /// ms since the Unix epoch (the signed time of the operation).
        public var at: UInt64
        /// created, joined, added, permission, removed, left, mode, invited, declined or request.
        public var kind: String
        /// The line, with names.
        public var text: String
        /// The member it concerns (sc1…), if any.
        public var subject: String?

        /// A note.
        public init(at: UInt64, kind: String, text: String, subject: String? = nil) {
            self.at = at
            self.kind = kind
            self.text = text
            self.subject = subject
        }
    }

    /// Who is reading which message.
    public struct CursorEntry: Sendable, Hashable, Codable {
        /// The reader's key (sc1…).
        public var key: String
        /// The reader's name.
        public var name: String
        /// The focused message's id.
        public var message: String

        /// A cursor row.
        public init(key: String, name: String, message: String) {
            self.key = key
            self.name = name
            self.message = message
        }
    }

    /// The conversation's id (hex).
    public var conversation: String
    /// Its title.
    public var title: String
    /// This node's key (sc1…).
    public var me: String
    /// This node's display name here, if it is a member.
    public var myName: String?
    /// This node's permission, or `none`.
    public var permission: String
    /// Whether this node may post.
    public var canSend: Bool
    /// Why not, when it may not.
    public var reason: String?
    /// The latest ``NodeChatControl/messageLimit`` messages, in order.
    public var messages: [LogEntry]
    /// How many messages the log holds in all.
    public var totalMessages: Int
    /// Members: online first, then away, dnd, offline; then by name.
    public var members: [Member]
    /// Every member's and author's colour (`#RRGGBB`) by key (sc1…), distinct within the conversation.
    public var colors: [String: String]
    /// Names of the members typing now, this node excluded.
    public var typing: [String]
    /// Other members' focused messages.
    public var cursors: [CursorEntry]
    /// Peers with a session sharing this conversation.
    public var peers: Int
    /// True while this node's join is not yet acknowledged.
    public var joining: Bool
    /// Batches waiting for their dependencies.
    public var pending: Int
    /// The node's wall clock when it answered (ms since the Unix epoch).
    public var now: UInt64
    /// The node's change revision this state reflects (pass it as `after` to wait for the next).
    public var revision: UInt64
    /// Direct invitations delivered to this node and still pending (to any conversation).
    public var invitations: [ReceivedInvitationEntry]
    /// The latest ``NodeChatControl/noteLimit`` timeline notes, in the log's order.
    public var notes: [Note]
    /// Access requests not granted yet (counted for admins only; 0 otherwise).
    public var openRequests: Int

    /// A chat state with every field given.
    public init(conversation: String, title: String, me: String, myName: String?, permission: String, canSend: Bool,
                reason: String?, messages: [LogEntry], totalMessages: Int, members: [Member], colors: [String: String],
                typing: [String],
                cursors: [CursorEntry], peers: Int, joining: Bool, pending: Int, now: UInt64, revision: UInt64 = 0,
                invitations: [ReceivedInvitationEntry] = [], notes: [Note] = [], openRequests: Int = 0) {
        self.conversation = conversation
        self.title = title
        self.me = me
        self.myName = myName
        self.permission = permission
        self.canSend = canSend
        self.reason = reason
        self.messages = messages
        self.totalMessages = totalMessages
        self.members = members
        self.colors = colors
        self.typing = typing
        self.cursors = cursors
        self.peers = peers
        self.joining = joining
        self.pending = pending
        self.now = now
        self.revision = revision
        self.invitations = invitations
        self.notes = notes
        self.openRequests = openRequests
    }
}
