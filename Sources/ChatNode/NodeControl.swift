import ChatControl
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
    public static let commands = ControlCommand.names + NodeChatControl.commands

    /// Answers one request against `node`; `stop` is called for the `stop` command (after which the
    /// caller shuts the daemon down). Give every request of one node the same `gate` so that
    /// concurrent writes reach the node one at a time.
    public static func handle(_ request: ControlRequest, node: Node, gate: WriteGate? = nil,
                              stop: @Sendable () -> Void = {}) async -> ControlResponse {
        // The interactive chat's state and ephemeral updates (not log writes: not gated).
        if let response = await NodeChatControl.handle(request, node: node) { return response }
        let command: ControlCommand
        do {
            command = try ControlCommand(request)
        } catch {
            return .failure(code: error.code, message: error.description)
        }
        let gated = command.isWrite ? gate : nil
        await gated?.acquire()
        let response = await respond(to: command, node: node, stop: stop)
        await gated?.release()
        return response
    }

    private static func respond(to command: ControlCommand, node: Node, stop: @Sendable () -> Void) async -> ControlResponse {
        do {
            return .success(try await result(of: command, node: node, stop: stop))
        } catch let error as NodeCommandError {
            return .failure(code: error.code, message: error.description)
        } catch let error as ControlCommandError {
            return .failure(code: error.code, message: error.description)
        } catch {
            return .failure(code: ControlErrorBody.Code.internalError, message: "\(error)")
        }
    }

    /// Carries out one typed command.
    private static func result(of command: ControlCommand, node: Node, stop: @Sendable () -> Void) async throws -> JSONValue {
        let commands = node.commands
        switch command {
        case .create(let title, let isPublic):
            return try JSONValue(encoding: ConversationResult(conversation: try await commands.create(title: title, isPublic: isPublic).hex))
        case .invite(let text, let terms):
            let conversation = try await commands.resolve(text)
            let link = try await commands.createLink(in: conversation, permission: terms.permission, expiresAt: terms.expiresAt,
                                                     useLimit: terms.useLimit, label: terms.label)
            return try JSONValue(encoding: InviteResult(conversation: conversation.hex,
                                                        token: link.url.dropFirst(ShareLink.prefix.count).description,
                                                        code: link.code))
        case .join(let text, let endpoint, let seconds), .decline(let text, let endpoint, let seconds):
            let timeout = Duration.seconds(Int(seconds ?? 15))
            let joining = if case .join = command { true } else { false }
            // A whole conversation id (64 hex digits) with an address: join a public conversation.
            if joining, let endpoint, let id = ConversationID(hex: text) {
                try await commands.joinPublic(id, via: endpoint, timeout: timeout)
                return try JSONValue(encoding: ConversationResult(conversation: id.hex))
            }
            // A short code is resolved first, through the node it names.
            let code = InviteCode(text)
            let endpoint = endpoint ?? code?.endpoint
            let token: [UInt8]
            if let code {
                token = try await commands.resolveInviteCode(code, timeout: timeout)
            } else {
                token = try await commands.receivedInvitationToken(matching: text) ?? tokenBytes(text)
            }
            let conversation = joining
                ? try await commands.join(token: token, via: endpoint, timeout: timeout)
                : try await commands.decline(token: token, via: endpoint, timeout: timeout)
            return try JSONValue(encoding: ConversationResult(conversation: conversation.hex))
        case .linkCreate(let text, let terms, let inviteeText):
            let conversation = try await commands.resolve(text)
            var invitee: ReplicaID?
            if let inviteeText { invitee = try await commands.person(inviteeText) }
            let link = try await commands.createLink(in: conversation, permission: terms.permission, expiresAt: terms.expiresAt,
                                                     useLimit: terms.useLimit, label: terms.label, invitee: invitee)
            return try JSONValue(encoding: link)
        case .linkList(let text):
            let conversation = try await commands.resolve(text)
            return try JSONValue(encoding: LinksResult(links: try await commands.links(of: conversation)))
        case .invitations(let text):
            let conversation = try await commands.resolve(text)
            let invitations = try await commands.links(of: conversation).filter { $0.invitee != nil }
            return try JSONValue(encoding: InvitationsResult(invitations: invitations))
        case .invitationsReceived:
            return try JSONValue(encoding: ReceivedInvitationsResult(invitations: await commands.receivedInvitationList()))
        case .linkRevoke(let text, let prefix):
            let conversation = try await commands.resolve(text)
            try await commands.revokeLink(prefix, in: conversation)
            let tokenID = try await commands.links(of: conversation).first { $0.tokenID.hasPrefix(prefix.lowercased()) }?.tokenID
            return try JSONValue(encoding: LinkRevokedResult(conversation: conversation.hex, tokenID: tokenID ?? prefix))
        case .grant(let text, let memberText, let permission):
            let conversation = try await commands.resolve(text)
            let member = try await self.member(memberText, in: conversation, commands: commands)
            try await commands.grant(permission, to: member.replicaID, in: conversation)
            return try JSONValue(encoding: GrantResult(conversation: conversation.hex, member: member.text,
                                                       permission: permission.description))
        case .requestAccess(let text, let permission, let note):
            let conversation = try await commands.resolve(text)
            try await commands.requestAccess(permission, note: note, in: conversation)
            return try JSONValue(encoding: AccessRequestResult(conversation: conversation.hex, permission: permission.description,
                                                               peers: await node.inspect { $0.sessionCount(carrying: conversation) }))
        case .requests(let text):
            let conversation = try await commands.resolve(text)
            return try JSONValue(encoding: AccessRequestsResult(requests: try await commands.accessRequests(of: conversation)))
        case .mode(let text, let isPublic):
            let conversation = try await commands.resolve(text)
            try await commands.setMode(public: isPublic, in: conversation)
            return try JSONValue(encoding: ModeResult(conversation: conversation.hex, isPublic: isPublic))
        case .audit(let text, let query):
            let conversation = try await commands.resolve(text)
            // The user by key or by a display name in the conversation, as grant and revoke take it.
            var user: ReplicaID?
            if let userText = query.user { user = try await commands.person(userText, in: conversation) }
            let filter = AuditFilter(user: user, actions: query.actions, since: query.since, until: query.until)
            if query.csv {
                let csv = try await commands.auditCSV(conversation, filter: filter)
                return try JSONValue(encoding: AuditResult(conversation: conversation.hex, csv: csv))
            }
            let entries = try await commands.audit(conversation, filter: filter)
            let names = try await node.replica(conversation).document.profiles.mapValues(\.profile.displayName)
            return try JSONValue(encoding: AuditResult(conversation: conversation.hex,
                                                       entries: entries.map { AuditResult.Entry($0, names: names) }))
        case .send(let text, let body):
            let conversation = try await commands.resolve(text)
            let id = try await commands.post(body, to: conversation)
            return try JSONValue(encoding: MessageResult(conversation: conversation.hex, id: MessageReference.text(id)))
        case .edit(let text, let message, let body):
            let conversation = try await commands.resolve(text)
            try await commands.edit(message, to: body, in: conversation)
            return try JSONValue(encoding: MessageResult(conversation: conversation.hex, id: message))
        case .delete(let text, let message):
            let conversation = try await commands.resolve(text)
            try await commands.delete(message, in: conversation)
            return try JSONValue(encoding: MessageResult(conversation: conversation.hex, id: message))
        case .revoke(let text, let memberText):
            let conversation = try await commands.resolve(text)
            let member = try await self.member(memberText, in: conversation, commands: commands)
            try await commands.revoke(member.replicaID, in: conversation)
            return try JSONValue(encoding: MemberRemovedResult(conversation: conversation.hex, member: member.text))
        case .log(let text):
            let conversation = try await commands.resolve(text)
            return try JSONValue(encoding: LogResult(conversation: conversation.hex, messages: try await commands.log(conversation)))
        case .members(let text):
            let conversation = try await commands.resolve(text)
            return try JSONValue(encoding: MembersResult(conversation: conversation.hex, members: try await commands.members(conversation)))
        case .status:
            return try JSONValue(encoding: await node.commands.status())
        case .conversations:
            return try JSONValue(encoding: ConversationsResult(conversations: await node.commands.status().conversations.map {
                ConversationsResult.Summary(id: $0.id, title: $0.title, messages: $0.messages, members: $0.members,
                                            joining: $0.joining)
            }))
        case .stop:
            stop()
            return try JSONValue(encoding: StopResult())
        }
    }

    /// A member of `conversation` named by key or display name.
    private static func member(_ text: String, in conversation: ConversationID, commands: NodeCommands) async throws -> PublicKey {
        let member = PublicKey(try await commands.person(text, in: conversation))
        guard try await commands.members(conversation).contains(where: { $0.key == member.text }) else {
            throw ControlCommandError.invalidArgument("\(member.text) is not a member of this conversation")
        }
        return member
    }

    /// A token given as a share link URL or bare hex.
    private static func tokenBytes(_ text: String) throws -> [UInt8] {
        guard let token = ShareLink.tokenBytes(from: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw NodeCommandError.invalidToken("it is neither a streamingchat://join link nor hexadecimal")
        }
        return token
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
