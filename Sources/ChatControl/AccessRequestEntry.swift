import ChatCore

/// An access request as `requests` shows it.
public struct AccessRequestEntry: Sendable, Hashable, Codable {
    public var id: String
    public var author: String
    public var authorName: String?
    public var permission: String
    public var note: String
    public var at: UInt64
    public var granted: Bool

    public init(id: String, author: String, authorName: String? = nil, permission: String, note: String, at: UInt64,
                granted: Bool) {
        self.id = id
        self.author = author
        self.authorName = authorName
        self.permission = permission
        self.note = note
        self.at = at
        self.granted = granted
    }
}
