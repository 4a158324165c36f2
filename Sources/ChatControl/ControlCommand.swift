import ChatCore

/// Every log and membership command of the control socket, with typed arguments: the one place
/// where a command's name and its argument keys are spelled. The CLI and the chat build these and
/// send ``request``; ``NodeControl`` reads requests back with ``init(_:)`` and answers the typed
/// value. (The terminal chat's own `chat-state` and `publish` are ``NodeChatControl``'s.)
public enum ControlCommand: Sendable, Hashable {
    case create(title: String, isPublic: Bool)
    /// A recorded link's token, as hex (`invite`).
    case invite(conversation: String, terms: LinkTerms)
    /// `token`: a link, token hex, a received invitation's token id prefix, or with `address` a
    /// public conversation's whole id.
    case join(token: String, address: PeerEndpoint?, timeoutSeconds: UInt32?)
    case decline(token: String, address: PeerEndpoint?, timeoutSeconds: UInt32?)
    case send(conversation: String, text: String)
    case edit(conversation: String, message: String, text: String)
    case delete(conversation: String, message: String)
    /// `member`: a key (sc1…) or a member's display name.
    case revoke(conversation: String, member: String)
    case grant(conversation: String, member: String, permission: Permission)
    /// `invitee` (a key or a display name): a direct invitation instead of a share link.
    case linkCreate(conversation: String, terms: LinkTerms, invitee: String?)
    case linkList(conversation: String)
    /// `token`: a token id prefix.
    case linkRevoke(conversation: String, token: String)
    case invitations(conversation: String)
    case invitationsReceived
    case requestAccess(conversation: String, permission: Permission, note: String)
    case requests(conversation: String)
    case mode(conversation: String, isPublic: Bool)
    case audit(conversation: String, query: AuditQuery)
    case log(conversation: String)
    case members(conversation: String)
    case status
    case conversations
    case stop

    /// What a link or invitation grants.
    public struct LinkTerms: Sendable, Hashable {
        public var permission: Permission
        /// ms since the Unix epoch; nil: never.
        public var expiresAt: UInt64?
        /// nil: unlimited.
        public var useLimit: UInt32?
        public var label: String

        public init(permission: Permission, expiresAt: UInt64? = nil, useLimit: UInt32? = nil, label: String = "") {
            self.permission = permission
            self.expiresAt = expiresAt
            self.useLimit = useLimit
            self.label = label
        }
    }

    /// Which audit entries, and in which form.
    public struct AuditQuery: Sendable, Hashable {
        /// A key (sc1…) or a member's display name.
        public var user: String?
        public var actions: Set<AuditAction>?
        /// ms since the Unix epoch (inclusive).
        public var since: UInt64?
        /// ms since the Unix epoch (exclusive).
        public var until: UInt64?
        /// RFC 4180 CSV instead of JSON entries.
        public var csv: Bool

        public init(user: String? = nil, actions: Set<AuditAction>? = nil, since: UInt64? = nil, until: UInt64? = nil,
                    csv: Bool = false) {
            self.user = user
            self.actions = actions
            self.since = since
            self.until = until
            self.csv = csv
        }
    }

    /// The terminal chat's own commands (answered by the node's chat control).
    public static let chatNames = ["chat-state", "publish"]

    /// Every command name, in the order the documentation lists them.
    public static let names = ["create", "invite", "join", "decline", "send", "edit", "delete", "revoke", "grant",
                               "link_create", "link_list", "link_revoke", "invitations", "invitations_received",
                               "request_access", "requests", "mode", "audit", "log", "members", "status",
                               "conversations", "stop"]

    /// The command's name on the wire.
    public var name: String {
        switch self {
        case .create: "create"
        case .invite: "invite"
        case .join: "join"
        case .decline: "decline"
        case .send: "send"
        case .edit: "edit"
        case .delete: "delete"
        case .revoke: "revoke"
        case .grant: "grant"
        case .linkCreate: "link_create"
        case .linkList: "link_list"
        case .linkRevoke: "link_revoke"
        case .invitations: "invitations"
        case .invitationsReceived: "invitations_received"
        case .requestAccess: "request_access"
        case .requests: "requests"
        case .mode: "mode"
        case .audit: "audit"
        case .log: "log"
        case .members: "members"
        case .status: "status"
        case .conversations: "conversations"
        case .stop: "stop"
        }
    }

    /// True for commands that sign operations into a log (run one at a time, see ``WriteGate``).
    public var isWrite: Bool {
        switch self {
        case .create, .send, .edit, .delete, .revoke, .grant, .linkCreate, .linkRevoke, .requestAccess, .mode: true
        default: false
        }
    }

    /// The request that carries this command.
    public var request: ControlRequest {
        var arguments: [String: String] = [:]
        func terms(_ terms: LinkTerms) {
            arguments["permission"] = terms.permission.description
            arguments["expiresAt"] = terms.expiresAt.map(String.init)
            arguments["useLimit"] = terms.useLimit.map(String.init)
            arguments["label"] = terms.label.isEmpty ? nil : terms.label
        }
        switch self {
        case .create(let title, let isPublic):
            arguments = ["title": title, "public": String(isPublic)]
        case .invite(let conversation, let link):
            arguments["conversation"] = conversation
            terms(link)
        case .join(let token, let address, let timeout), .decline(let token, let address, let timeout):
            arguments = ["token": token]
            arguments["address"] = address?.description
            arguments["timeout"] = timeout.map(String.init)
        case .send(let conversation, let text):
            arguments = ["conversation": conversation, "text": text]
        case .edit(let conversation, let message, let text):
            arguments = ["conversation": conversation, "message": message, "text": text]
        case .delete(let conversation, let message):
            arguments = ["conversation": conversation, "message": message]
        case .revoke(let conversation, let member):
            arguments = ["conversation": conversation, "member": member]
        case .grant(let conversation, let member, let permission):
            arguments = ["conversation": conversation, "member": member, "permission": permission.description]
        case .linkCreate(let conversation, let link, let invitee):
            arguments["conversation"] = conversation
            terms(link)
            arguments["invitee"] = invitee
        case .linkRevoke(let conversation, let token):
            arguments = ["conversation": conversation, "token": token]
        case .requestAccess(let conversation, let permission, let note):
            arguments = ["conversation": conversation, "permission": permission.description, "note": note]
        case .mode(let conversation, let isPublic):
            arguments = ["conversation": conversation, "public": String(isPublic)]
        case .audit(let conversation, let query):
            arguments = ["conversation": conversation, "format": query.csv ? "csv" : "json"]
            arguments["user"] = query.user
            arguments["actions"] = query.actions.map { $0.map(\.rawValue).sorted().joined(separator: ",") }
            arguments["since"] = query.since.map(String.init)
            arguments["until"] = query.until.map(String.init)
        case .linkList(let conversation), .invitations(let conversation), .requests(let conversation),
             .log(let conversation), .members(let conversation):
            arguments = ["conversation": conversation]
        case .invitationsReceived, .status, .conversations, .stop:
            break
        }
        return ControlRequest(command: name, arguments: arguments)
    }

    /// Reads a request: its name and arguments, each checked (`unknown_command`,
    /// `missing_argument`, `invalid_argument`).
    public init(_ request: ControlRequest) throws(ControlCommandError) {
        let arguments = ControlArguments(values: request.arguments)
        func conversation() throws(ControlCommandError) -> String { try arguments.required("conversation") }
        func terms(defaultPermission: Permission) throws(ControlCommandError) -> LinkTerms {
            LinkTerms(permission: try arguments.permission(default: defaultPermission),
                      expiresAt: try arguments.number("expiresAt", as: UInt64.self),
                      useLimit: try arguments.number("useLimit", as: UInt32.self), label: arguments.optional("label") ?? "")
        }
        switch request.command {
        case "create":
            self = .create(title: try arguments.required("title"), isPublic: try arguments.flag("public"))
        case "invite":
            self = .invite(conversation: try conversation(), terms: try terms(defaultPermission: .comment))
        case "join", "decline":
            let token = try arguments.required("token")
            let address = try arguments.endpoint()
            let timeout = try arguments.number("timeout", as: UInt32.self)
            self = request.command == "join" ? .join(token: token, address: address, timeoutSeconds: timeout)
                : .decline(token: token, address: address, timeoutSeconds: timeout)
        case "send":
            self = .send(conversation: try conversation(), text: try arguments.required("text"))
        case "edit":
            self = .edit(conversation: try conversation(), message: try arguments.required("message"),
                         text: try arguments.required("text"))
        case "delete":
            self = .delete(conversation: try conversation(), message: try arguments.required("message"))
        case "revoke":
            self = .revoke(conversation: try conversation(), member: try arguments.required("member"))
        case "grant":
            self = .grant(conversation: try conversation(), member: try arguments.required("member"),
                          permission: try arguments.permission(default: nil))
        case "link_create":
            self = .linkCreate(conversation: try conversation(), terms: try terms(defaultPermission: .view),
                               invitee: arguments.optional("invitee"))
        case "link_list":
            self = .linkList(conversation: try conversation())
        case "link_revoke":
            self = .linkRevoke(conversation: try conversation(), token: try arguments.required("token"))
        case "invitations":
            self = .invitations(conversation: try conversation())
        case "invitations_received":
            self = .invitationsReceived
        case "request_access":
            self = .requestAccess(conversation: try conversation(), permission: try arguments.permission(default: nil),
                                  note: arguments.optional("note") ?? "")
        case "requests":
            self = .requests(conversation: try conversation())
        case "mode":
            self = .mode(conversation: try conversation(), isPublic: try arguments.flag("public"))
        case "audit":
            let csv: Bool
            switch arguments.optional("format") ?? "json" {
            case "json": csv = false
            case "csv": csv = true
            case let other: throw .invalidArgument("format must be json or csv, not \(other)")
            }
            self = .audit(conversation: try conversation(), query: AuditQuery(
                user: arguments.optional("user"), actions: try arguments.auditActions(),
                since: try arguments.number("since", as: UInt64.self), until: try arguments.number("until", as: UInt64.self),
                csv: csv))
        case "log":
            self = .log(conversation: try conversation())
        case "members":
            self = .members(conversation: try conversation())
        case "status":
            self = .status
        case "conversations":
            self = .conversations
        case "stop":
            self = .stop
        case let other:
            throw .unknownCommand(other)
        }
    }
}

/// A control request the node could not even start on. Stable `code`s.
public enum ControlCommandError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownCommand(String)
    case missingArgument(String)
    case invalidArgument(String)

    public var code: String {
        switch self {
        case .unknownCommand: "unknown_command"
        case .missingArgument: "missing_argument"
        case .invalidArgument: "invalid_argument"
        }
    }

    public var description: String {
        switch self {
        case .unknownCommand(let name):
            "unknown command \(name); the node understands \((ControlCommand.names + ControlCommand.chatNames).joined(separator: ", "))"
        case .missingArgument(let name): "the request needs the argument \(name)"
        case .invalidArgument(let reason): reason
        }
    }
}

/// Typed access to a request's string arguments (the chat's commands use it too).
public struct ControlArguments {
    public var values: [String: String]

    public init(values: [String: String]) {
        self.values = values
    }

    public func optional(_ name: String) -> String? { values[name] }

    public func required(_ name: String) throws(ControlCommandError) -> String {
        guard let value = values[name] else { throw .missingArgument(name) }
        return value
    }

    public func flag(_ name: String) throws(ControlCommandError) -> Bool {
        switch values[name] {
        case nil, "false": false
        case "true": true
        case let other?: throw .invalidArgument("\(name) must be true or false, not \(other)")
        }
    }

    public func number<T: FixedWidthInteger>(_ name: String, as type: T.Type) throws(ControlCommandError) -> T? {
        guard let text = values[name] else { return nil }
        guard let value = T(text) else { throw .invalidArgument("\(name) must be a whole number in range, not \(text)") }
        return value
    }

    /// `permission` by name, or `fallback` when absent (required when `fallback` is nil).
    public func permission(default fallback: Permission?) throws(ControlCommandError) -> Permission {
        guard let name = values["permission"] else {
            guard let fallback else { throw .missingArgument("permission") }
            return fallback
        }
        guard let permission = Permission(name: name) else {
            throw .invalidArgument("permission must be view, comment, edit or admin, not \(name)")
        }
        return permission
    }

    /// The optional `address` argument (`host:port`).
    public func endpoint() throws(ControlCommandError) -> PeerEndpoint? {
        guard let address = values["address"] else { return nil }
        guard let endpoint = PeerEndpoint(address) else {
            throw .invalidArgument("an address looks like host:port, not \(address)")
        }
        return endpoint
    }

    /// `actions`: comma-separated audit action names; nil when absent.
    public func auditActions() throws(ControlCommandError) -> Set<AuditAction>? {
        guard let text = values["actions"] else { return nil }
        var parsed = Set<AuditAction>()
        for name in text.split(separator: ",") {
            guard let action = AuditAction(rawValue: String(name)) else {
                let known = AuditAction.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalidArgument("unknown audit action \(name); the actions are \(known)")
            }
            parsed.insert(action)
        }
        return parsed
    }
}
