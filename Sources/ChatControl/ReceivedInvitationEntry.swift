import ChatCore
import Foundation

/// A direct invitation as the invitee's `invitations received` shows it.
public struct ReceivedInvitationEntry: Sendable, Hashable, Codable {
    /// The conversation it invites to (hex id).
    public var conversation: String
    public var permission: String
    /// The admin who signed it (sc1…).
    public var issuer: String
    public var tokenID: String
    public var label: String
    public var expiresAt: UInt64?
    /// The member whose node delivered it (sc1…).
    public var from: String
    /// When it arrived (ms since the Unix epoch, this node's clock).
    public var receivedAt: UInt64
    /// The `streamingchat://join` link that `invitations accept` and `decline` take.
    public var url: String
    /// pending, accepted (this node joined with it), member (this node is a member by other
    /// means), declined (by this node), or expired.
    public var state: String

    /// An entry with every field given.
    public init(conversation: String, permission: String, issuer: String, tokenID: String, label: String,
                expiresAt: UInt64?, from: String, receivedAt: UInt64, url: String, state: String) {
        self.conversation = conversation
        self.permission = permission
        self.issuer = issuer
        self.tokenID = tokenID
        self.label = label
        self.expiresAt = expiresAt
        self.from = from
        self.receivedAt = receivedAt
        self.url = url
        self.state = state
    }
}
