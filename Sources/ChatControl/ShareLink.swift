import ChatCore

/// A share link as `link create` returns it.
public struct ShareLink: Sendable, Hashable, Codable {
    /// `streamingchat://join?token=<hex>` (the token carries the conversation, the permission,
    /// the expiry, the use limit and the addresses of peers to dial).
    public var url: String
    /// The token id (hex), which `link revoke` takes.
    public var tokenID: String
    public var conversation: String
    public var permission: String
    public var expiresAt: UInt64?
    public var useLimit: UInt32?
    public var label: String
    /// The invitee's key (sc1…) for a direct invitation; nil for a share link.
    public var invitee: String?
    /// The link's short code, `host:port/` and 16 base32 characters (share links of a node that
    /// listens); `join` takes it like the URL.
    public var code: String?

    /// The URL scheme and path of share links.
    public static let prefix = "streamingchat://join?token="

    /// The token bytes of a share link URL (or of bare hex), nil when it is neither.
    public static func tokenBytes(from text: String) -> [UInt8]? {
        let hex = text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count).prefix { $0 != "&" }) : text
        return Hex.decode(hex)
    }

    public init(url: String, tokenID: String, conversation: String, permission: String, expiresAt: UInt64? = nil,
                useLimit: UInt32? = nil, label: String, invitee: String? = nil, code: String? = nil) {
        self.url = url
        self.tokenID = tokenID
        self.conversation = conversation
        self.permission = permission
        self.expiresAt = expiresAt
        self.useLimit = useLimit
        self.label = label
        self.invitee = invitee
        self.code = code
    }
}
