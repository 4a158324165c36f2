import ChatCore

/// A message as `log` shows it.
public struct LogEntry: Sendable, Hashable, Codable {
    /// The message id (``MessageReference``).
    public var id: String
    /// The author's public key (sc1…).
    public var author: String
    /// The author's display name, if they set one.
    public var authorName: String?
    public var text: String
    public var edited: Bool
    public var deleted: Bool
    /// The author's signed timestamp, ms since the Unix epoch.
    public var postedAt: UInt64

    public init(id: String, author: String, authorName: String? = nil, text: String, edited: Bool, deleted: Bool,
                postedAt: UInt64) {
        self.id = id
        self.author = author
        self.authorName = authorName
        self.text = text
        self.edited = edited
        self.deleted = deleted
        self.postedAt = postedAt
    }
}
