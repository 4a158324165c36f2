import ChatControl
import ChatCore
import ChatSync
import ChatWire

/// One session as ``NodeMachine`` sees it: which side dialled, the address dialled, the join
/// token presented, the peer once established, and one replication machine per conversation
/// replicated with that peer. The bytes, timers and back-pressure of the connection are the
/// shell's (``SessionChannel``).
struct SessionState: Sendable {
    let id: Int
    let role: SessionRole
    /// The address dialled (dialer) or nil (an incoming connection).
    let endpoint: PeerEndpoint?
    /// The conversation whose join token this side presented in its hello (a dialer joining).
    let presentedJoin: ConversationID?
    /// The join as it stood when its token was presented (to match refusals to it).
    let presented: PendingJoin?
    /// The peer, once established and kept.
    var peer: SessionPeer?
    var establishedAt: Duration?
    /// Set when the session's closing reason arrived.
    var closeReason: SessionCloseReason?
    var replication: [ConversationID: ReplicationStateMachine] = [:]

    /// The peer's replica id once established.
    var peerID: ReplicaID? { peer?.key.replicaID }
}

/// Which side of a connection this node plays, and for a dialer, the address it dialled.
enum ConnectionRole: Sendable, Hashable {
    case listener
    case dialer(PeerEndpoint)

    var sessionRole: SessionRole {
        if case .dialer = self { return .dialer }
        return .listener
    }

    var endpoint: PeerEndpoint? {
        if case .dialer(let endpoint) = self { return endpoint }
        return nil
    }
}

/// How a session ended, for the redial loop.
struct SessionEnding: Sendable, Hashable {
    /// How long it was established (nil: never).
    var length: Duration?
    /// The session asked to stay away from the peer this long (it misbehaved).
    var backOff: Duration?
}

/// What a new session starts with, as ``NodeMachine/openSession(role:held:membership:)`` planned it.
struct SessionPlan: Sendable {
    let link: Int
    /// The join token to present (dialers only).
    let inviteToken: [UInt8]?
    /// Conversations this node joins or follows and knows nothing of yet: a dialer admits its
    /// peer to them (it holds nothing of them to leak; everything received is checked).
    let joining: Set<ConversationID>
}
