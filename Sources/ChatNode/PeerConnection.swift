import ChatCore
import ChatSync
import ChatWire
import NIOCore
import NIOPosix

/// What a connection reports to its owner.
public enum PeerEvent: Sendable {
    /// The peer proved its key and was admitted.
    case established(SessionPeer)
    /// A decrypted, decoded conversation frame from the peer. Release `charge` bytes of the
    /// connection's ``InboundWindow`` once it is handled: until then they count against the window.
    case received(DataFrame, charge: Int)
    /// The peer sent garbage or flooded: refuse it for this long.
    case backOff(Duration)
    /// The session ended.
    case closed(SessionCloseReason?)
}

/// What the owner asks a connection to do.
public enum PeerCommand: Sendable {
    /// Seal and send a conversation frame (dropped if the session is not established).
    case send(DataFrame)
    /// End the session, telling the peer why (a revocation, shutdown).
    case close(RefuseCode)
}

/// What the connection loop reacts to, one at a time.
private enum PeerConnectionInput: Sendable {
    case bytes([UInt8])
    case command(PeerCommand)
    case timer(SessionTimer)
    case ended
}

/// The I/O shell of one TCP connection: it carries bytes between the socket and a
/// ``SessionStateMachine`` and carries out what the machine returns — writes, events, timers. It
/// decides nothing itself. Time comes from the injected clock.
public enum PeerConnection {
    /// Runs a session over `channel` until it closes. `outgoing` carries frames to send once the
    /// session is established (and a request to close); `events` receives what happens.
    ///
    /// Back-pressure: bytes read are reserved in `window` before the session sees them; bytes that
    /// deliver no frame are released at once, the rest when the consumer releases each
    /// ``PeerEvent/received(_:charge:)``'s charge. While the window is full nothing more is read.
    public static func run<C: Clock>(
        _ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, session: SessionStateMachine,
        outgoing: AsyncStream<PeerCommand>, events: AsyncStream<PeerEvent>.Continuation, clock: C,
        window: InboundWindow = InboundWindow(limit: 4 << 20)
    ) async where C.Duration == Duration {
        var machine = session
        let start = clock.now
        func now() -> Duration { start.duration(to: clock.now) }
        let (inputs, feed) = AsyncStream<PeerConnectionInput>.makeStream()
        var closeReason: SessionCloseReason?
        do {
            try await channel.executeThenClose { inbound, outbound in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for try await buffer in inbound {
                                await window.reserve(buffer.readableBytes)
                                feed.yield(.bytes(Array(buffer.readableBytesView)))
                            }
                        } catch {}
                        feed.yield(.ended)
                    }
                    group.addTask {
                        for await command in outgoing { feed.yield(.command(command)) }
                    }
                    var pending = inputs.makeAsyncIterator()
                    var actions = machine.start(now: now())
                    // The bytes behind this batch of actions, charged to its last delivery.
                    var charge = 0
                    loop: while true {
                        var deliveries = actions.count { if case .deliver = $0 { true } else { false } }
                        if deliveries == 0 { window.release(charge) }
                        for action in actions {
                            switch action {
                            case .send(let bytes):
                                try? await outbound.write(ByteBuffer(bytes: bytes))
                            case .authenticated(let peer):
                                events.yield(.established(peer))
                            case .deliver(let frame):
                                deliveries -= 1
                                events.yield(.received(frame, charge: deliveries == 0 ? charge : 0))
                            case .scheduleTimer(let delay, let timer):
                                group.addTask {
                                    try? await clock.sleep(for: delay)
                                    feed.yield(.timer(timer))
                                }
                            case .backOff(let duration):
                                events.yield(.backOff(duration))
                            case .close(let reason):
                                closeReason = reason
                                break loop
                            }
                        }
                        charge = 0
                        switch await pending.next() {
                        case .bytes(let bytes):
                            charge = bytes.count
                            actions = machine.receive(bytes, now: now())
                        case .command(.send(let frame)):
                            actions = (try? machine.send(frame)) ?? []
                        case .command(.close(let code)):
                            actions = machine.close(code)
                        case .timer(let timer):
                            actions = machine.timerFired(timer, now: now())
                        case .ended, nil:
                            machine.connectionClosed()
                            break loop
                        }
                    }
                    feed.finish()
                    window.close()
                    group.cancelAll()
                }
            }
        } catch {}
        events.yield(.closed(closeReason))
        events.finish()
    }

    /// Dials `host:port` and wraps the connection for ``run(_:session:outgoing:events:clock:)``.
    public static func connect(host: String, port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Listens on `host:port` (port 0: any free port); hand the result's connections to
    /// ``run(_:session:outgoing:events:clock:)``.
    public static func listen(host: String, port: Int) async throws
        -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }
}
