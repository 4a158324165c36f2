import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire

/// An access request as `requests` shows it.
public struct AccessRequestEntry: Sendable, Hashable, Codable {
    public var id: String
    public var author: String
    public var authorName: String?
    public var permission: String
    public var note: String
    public var at: UInt64
    public var granted: Bool
}
