import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import NIOCore

/// The shell's side of one session: its command channel, what its peer sent and the node has
/// not handled yet (back-pressure), and its replication timers. Its policy state is
/// ``SessionState``, in ``NodeMachine``.
struct SessionChannel: Sendable {
    let commands: AsyncStream<PeerCommand>.Continuation
    let window: InboundWindow
    var timers = NodeTimers<ConversationID>()
}
