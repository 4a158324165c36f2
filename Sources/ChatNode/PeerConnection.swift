import ChatCore
import ChatSync
import ChatWire
import NIOCore
import NIOPosix
import Synchronization

/// What a connection reports to its owner.
public enum PeerEvent: Sendable {
    /// The peer proved its key and was admitted.
    case established(SessionPeer)
    /// A decrypted, decoded conversation frame from the peer. Release `charge` bytes (the frame's
    /// size, ``DataFrame/heldBytes``) of the connection's ``InboundWindow`` once it is handled:
    /// until then they count against the window.
    case received(DataFrame, charge: Int)
    /// The peer sent garbage or flooded: refuse it for this long.
    case backOff(Duration)
    /// The listener resolved this side's short invite code to sealed tokens.
    case codeResolved([[UInt8]])
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
    /// Bytes read from the socket and not yet seen by the session, per connection.
    public static let readWindowBytes = 1 << 20

    /// Runs a session over `channel` until it closes. `outgoing` carries frames to send once the
    /// session is established (and a request to close); `events` receives what happens.
    ///
    /// Back-pressure, with two windows so that neither waits on the other: bytes read are reserved
    /// in a 1 MiB read window before the session sees them and given back once it has (they are
    /// then in the frame being assembled, at most one frame); each delivered frame reserves its own
    /// size in `window` before it is handed on, and the consumer releases it
    /// (``PeerEvent/received(_:charge:)``). So what was read and not handled stays within 1 MiB +
    /// one frame + `window`, whatever the size of the reads; while they are full nothing more is read.
    public static func run<C: Clock>(
        _ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, session: SessionStateMachine,
        outgoing: AsyncStream<PeerCommand>, events: AsyncStream<PeerEvent>.Continuation, clock: C,
        window: InboundWindow = InboundWindow(limit: 4 << 20)
    ) async where C.Duration == Duration {
        var machine = session
        let start = clock.now
        func now() -> Duration { start.duration(to: clock.now) }
        let (inputs, feed) = AsyncStream<PeerConnectionInput>.makeStream()
        let reads = InboundWindow(limit: Self.readWindowBytes)
        var closeReason: SessionCloseReason?
        do {
            try await channel.executeThenClose { inbound, outbound in
                // Discarding: timer children finish every keep-alive, and nothing needs their results.
                await withDiscardingTaskGroup { group in
                    group.addTask {
                        do {
                            for try await buffer in inbound {
                                NodeMetrics.frameBytesIn.increment(by: Int64(buffer.readableBytes))
                                await reads.reserve(buffer.readableBytes)
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
                    loop: while true {
                        for action in actions {
                            switch action {
                            case .send(let bytes):
                                NodeMetrics.frameBytesOut.increment(by: Int64(bytes.count))
                                try? await outbound.write(ByteBuffer(bytes: bytes))
                            case .authenticated(let peer):
                                events.yield(.established(peer))
                            case .deliver(let frame):
                                let size = frame.heldBytes
                                await window.reserve(size)
                                events.yield(.received(frame, charge: size))
                            case .scheduleTimer(let delay, let timer):
                                group.addTask {
                                    try? await clock.sleep(for: delay)
                                    feed.yield(.timer(timer))
                                }
                            case .backOff(let duration):
                                events.yield(.backOff(duration))
                            case .codeResolved(let sealed):
                                events.yield(.codeResolved(sealed))
                            case .close(let reason):
                                closeReason = reason
                                break loop
                            }
                        }
                        switch await pending.next() {
                        case .bytes(let bytes):
                            actions = machine.receive(bytes, now: now())
                            reads.release(bytes.count)
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
                    reads.close()
                    window.close()
                    group.cancelAll()
                }
            }
        } catch {}
        events.yield(.closed(closeReason))
        events.finish()
    }

    /// Dials `host:port` and wraps the connection for ``run(_:session:outgoing:events:clock:)``.
    ///
    /// The wrapper is made when the socket is, before the TCP connection completes, and NIO traps
    /// when one is dropped without `executeThenClose`. So the connect runs in a task of its own that
    /// the caller's cancellation does not reach, and a caller cancelled meanwhile (a join abandoned
    /// mid-dial) closes the connection properly and throws `CancellationError`.
    public static func connect(host: String, port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let connecting = Task {
            try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        }
        let channel = try await connecting.value
        if Task.isCancelled {
            try? await channel.executeThenClose { _, _ in }
            throw CancellationError()
        }
        return channel
    }

    /// Listens on `host:port` (port 0: any free port); hand the result's connections to
    /// ``run(_:session:outgoing:events:clock:)``. With `accepted`, every connection NIO wraps is
    /// held there until its owner takes it (see ``AcceptedConnections``).
    public static func listen(host: String, port: Int, accepted: AcceptedConnections? = nil) async throws
        -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    accepted?.hold(connection)
                    return connection
                }
            }
    }
}

/// Connections a listener accepted that their owner has not taken yet.
///
/// NIO wraps an accepted connection on its own event loop and then hands it to the listener's
/// stream; when the listener is closing, that stream may already be finished, the wrapper is
/// dropped, and NIO traps (`Deinited NIOAsyncWriter without calling finish()`): a node stopped
/// while connections arrive crashed. Holding every wrapper here until its owner takes it, and
/// closing whatever is left once the listener's loop has ended, leaves none dropped.
public final class AcceptedConnections: Sendable {
    private typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let state = Mutex<(waiting: [ObjectIdentifier: Connection], closed: Bool)>(([:], false))

    public init() {}

    /// Connections accepted and not taken.
    public var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Keeps `connection` until ``take(_:)``; after ``closeRemaining()``, closes its socket (the
    /// wrapper stays held, so it is never dropped unclosed).
    func hold(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        let closed = state.withLock { state -> Bool in
            state.waiting[ObjectIdentifier(connection.channel)] = connection
            return state.closed
        }
        if closed { connection.channel.close(promise: nil) }
    }

    /// The owner takes `connection` (it will run or refuse it with `executeThenClose`).
    public func take(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        _ = state.withLock { $0.waiting.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    /// Closes every connection not taken; later arrivals are closed as they come.
    public func closeRemaining() async {
        let remaining = state.withLock { state -> [Connection] in
            state.closed = true
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        for connection in remaining { try? await connection.executeThenClose { _, _ in } }
    }
}

extension DataFrame {
    /// About the bytes a delivered frame holds until it is handled: its batches, updates, token or
    /// admission, plus a small overhead per frame.
    /// - Complexity: O(items in the frame).
    public var heldBytes: Int {
        let overhead = 64
        switch self {
        case .batches(_, let batches): return batches.reduce(overhead) { $0 + $1.count }
        case .ephemeral(_, let updates): return updates.reduce(overhead) { $0 + $1.count }
        case .admission(_, let bytes), .invitation(_, let bytes): return overhead + bytes.count
        case .clock(_, let clock): return overhead + clock.entries.count * (ReplicaID.byteCount + 8)
        case .peers(_, let addresses): return overhead + addresses.count * (ReplicaID.byteCount + 64)
        case .admissionRefused: return overhead
        case .want(_, let wanted): return overhead + wanted.count * (ReplicaID.byteCount + WireFormat.hashBytes + 8)
        }
    }
}
