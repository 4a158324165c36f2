import ChatControl
import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire

/// What a link or invitation says, as its recipient reads it before accepting (no node needed):
/// the token's signed content, checked.
public struct InvitationSummary: Sendable, Hashable, Codable {
    public var conversation: String
    public var permission: String
    /// The admin who signed it (sc1…).
    public var issuer: String
    public var tokenID: String
    public var issuedAt: UInt64
    public var expiresAt: UInt64?
    public var useLimit: UInt32?
    public var label: String
    /// The peers it says to dial.
    public var addresses: [String]

    /// Reads a `streamingchat://` URL or token hex; nil when it does not decode or its signature
    /// does not verify.
    public init?(link: String) {
        guard let bytes = ShareLink.tokenBytes(from: link), ConversationInputs.verifyInvite(bytes) != nil,
              let token = try? InviteToken(decoding: bytes) else { return nil }
        let content = token.content
        conversation = content.conversation.hex
        permission = content.permission.description
        issuer = PublicKey(content.issuer).text
        tokenID = Hex.encode(content.tokenID)
        issuedAt = content.issuedAt
        expiresAt = content.expiresAt
        useLimit = content.useLimit
        label = content.label
        addresses = content.addresses
    }
}
