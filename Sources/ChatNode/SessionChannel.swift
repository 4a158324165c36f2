import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import NIOCore

/// The shell's side of one session: its command channel, and what its peer sent and the node
/// has not handled yet (back-pressure). Its policy state is
/// ``SessionState``, in ``NodeMachine``.
struct SessionChannel: Sendable {
    let commands: AsyncStream<PeerCommand>.Continuation
    let window: InboundWindow

    /// A new session's channel, bounding what its peer may have sent and the node not handled
    /// to `windowLimit` bytes (with the session's frame limit, the bound of its memory here),
    /// and the stream of commands that ``run(_:handshake:commands:clock:isolation:handle:)`` reads.
    static func open(windowLimit: Int) -> (SessionChannel, AsyncStream<PeerCommand>) {
        let (commands, sink) = AsyncStream<PeerCommand>.makeStream()
        return (SessionChannel(commands: sink, window: InboundWindow(limit: windowLimit)), commands)
    }

    /// Runs `connection` to its end over ``PeerConnection`` with `handshake`, sending what
    /// `commands` says and handing each event to `handle` in order, on the caller's actor, with
    /// the signature checks of the batches it carries started ahead (``PreparedBatches``).
    /// Returns how long the peer asked this node to stay away, if it did.
    func run(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, handshake: SessionStateMachine,
             commands: AsyncStream<PeerCommand>, clock: NodeClock, isolation: isolated (any Actor)? = #isolation,
             handle: (PeerEvent, PreparedBatches?) async -> Void) async -> Duration? {
        let (events, eventSink) = AsyncStream<PeerEvent>.makeStream()
        async let running: Void = PeerConnection.run(connection, session: handshake, outgoing: commands, events: eventSink,
                                                     clock: clock, window: window)
        var backOff: Duration?
        for await (event, prepared) in PreparedBatches.staged(events, limits: .default) {
            if case .backOff(let duration) = event { backOff = duration }
            await handle(event, prepared)
        }
        await running
        return backOff
    }
}

extension SessionPlan {
    /// The handshake of the planned session: offering the conversations this node holds,
    /// presenting the plan's token, and admitting by the directory's policy (`admission`) and
    /// the plan's joins (see ``NodeMachine/admission(_:role:joining:)``).
    func handshake(role: ConnectionRole, identity: SigningKey, configuration: SessionConfiguration, held: [ConversationID],
                   admission: @escaping AdmissionPolicy) -> SessionStateMachine {
        var session = configuration
        session.conversations = held
        session.inviteToken = inviteToken
        var randomness = SystemRandomNumberGenerator()
        return SessionStateMachine(role: role.sessionRole, identity: identity, configuration: session,
                                   admission: NodeMachine.admission(admission, role: role.sessionRole, joining: joining),
                                   randomness: &randomness)
    }
}
