/// What a member may do in a conversation. Each level includes the ones below it.
public enum Permission: UInt8, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    /// Read the conversation.
    case view = 1
    /// Also send messages, and edit or delete one's own.
    case comment = 2
    /// Also edit the text of others' messages.
    case edit = 3
    /// Also invite, grant, revoke, change permissions and delete any message.
    case admin = 4

    public static func < (lhs: Permission, rhs: Permission) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The lower-case name used by the CLI and JSON output.
    public var description: String {
        switch self {
        case .view: "view"
        case .comment: "comment"
        case .edit: "edit"
        case .admin: "admin"
        }
    }

    /// Parses a lower-case name.
    public init?(name: some StringProtocol) {
        guard let match = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = match
    }
}

extension Permission {
    /// Whether this level may post messages: `comment` and above.
    public var canSendMessages: Bool { self >= .comment }

    /// Whether this level may edit a message's text: one's own with `comment`, others' with `edit`.
    public func canEditMessage(own: Bool) -> Bool {
        self >= (own ? .comment : .edit)
    }

    /// Whether this level may delete a message: one's own with `comment`, anyone's with `admin`.
    public func canDeleteMessage(own: Bool) -> Bool {
        self >= (own ? .comment : .admin)
    }
}
