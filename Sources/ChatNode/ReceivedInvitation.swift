import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Foundation

/// A received invitation's key: its signer and token id (a token id alone could be reused by a
/// forger to hide a real invitation).
struct ReceivedInvitationKey: Sendable, Hashable {
    var issuer: ReplicaID
    var tokenID: [UInt8]
}

/// A direct invitation another member's node delivered here.
struct ReceivedInvitation: Sendable {
    var token: InviteToken
    var from: ReplicaID
    var receivedAt: UInt64
}
