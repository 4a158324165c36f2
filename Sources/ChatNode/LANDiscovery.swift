import ChatCore
import ChatSync
import NIOCore
import NIOPosix
import Synchronization

/// Finds other nodes on the LAN by UDP beacons that do not name the conversations they carry (see
/// ``DiscoveryBeacon``). The I/O shell of ``DiscoveryStateMachine``: it binds the socket, sends the
/// beacons the machine builds when the machine says so, feeds it every datagram and publishes what it
/// reports on ``discoveries``. It decides nothing itself.
///
/// Off by default: a node creates one only when asked (`--lan`). Lifecycle: ``bind(configuration:conversations:seed:)``,
/// then ``run(clock:)`` in a task until ``stop()`` or cancellation; ``setConversations(_:)`` and
/// ``setTarget(host:port:)`` at any time.
public final class LANDiscovery: Sendable {
    /// The default UDP port for discovery beacons.
    public static let defaultPort = 47_474

    /// Where to listen and where to send.
    public struct Configuration: Sendable {
        /// The TCP port this node's sessions listen on, announced in beacons.
        public var tcpPort: Int
        /// The local address to bind the UDP socket to.
        public var bindHost: String
        /// The local UDP port (0: any free port, see ``LANDiscovery/localPort``).
        public var bindPort: Int
        /// The numeric address beacons go to: the broadcast address, or one peer (tests use 127.0.0.1).
        public var targetHost: String
        /// The UDP port beacons go to.
        public var targetPort: Int
        /// Timing and limits for the state machine (its `tcpPort` is replaced by ``tcpPort``).
        public var timing: DiscoveryConfiguration

        /// Defaults: bind 0.0.0.0:47474, send to 255.255.255.255:47474, the state machine's defaults.
        public init(tcpPort: Int, bindHost: String = "0.0.0.0", bindPort: Int = LANDiscovery.defaultPort,
                    targetHost: String = "255.255.255.255", targetPort: Int = LANDiscovery.defaultPort,
                    timing: DiscoveryConfiguration? = nil) {
            self.tcpPort = tcpPort
            self.bindHost = bindHost
            self.bindPort = bindPort
            self.targetHost = targetHost
            self.targetPort = targetPort
            self.timing = timing ?? DiscoveryConfiguration(tcpPort: UInt16(clamping: tcpPort))
        }
    }

    /// A configuration ``bind(configuration:conversations:seed:)`` refuses.
    public enum ConfigurationError: Error, Sendable, Hashable {
        /// The announced TCP port is not in 1 ... 65535.
        case invalidTCPPort(Int)

        /// A stable, machine-readable reason code.
        public var code: String {
            switch self {
            case .invalidTCPPort: "invalid_tcp_port"
            }
        }
    }

    private typealias Datagram = AddressedEnvelope<ByteBuffer>

    private struct State: Sendable {
        var machine: DiscoveryStateMachine
        var target: SocketAddress
    }

    /// Nodes found sharing conversations with this one; finished when ``run(clock:)`` returns. Keeps
    /// at most the 64 newest undelivered discoveries.
    public let discoveries: AsyncStream<Discovery>
    /// The UDP port actually bound.
    public let localPort: Int

    private let sink: AsyncStream<Discovery>.Continuation
    private let channel: NIOAsyncChannel<Datagram, Datagram>
    private let state: Mutex<State>

    private init(channel: NIOAsyncChannel<Datagram, Datagram>, localPort: Int, machine: DiscoveryStateMachine,
                 target: SocketAddress) {
        self.channel = channel
        self.localPort = localPort
        self.state = Mutex(State(machine: machine, target: target))
        (discoveries, sink) = AsyncStream<Discovery>.makeStream(bufferingPolicy: .bufferingNewest(64))
    }

    /// Binds the UDP socket (`SO_REUSEADDR`, `SO_BROADCAST`) and prepares to announce `conversations`.
    /// `seed` drives the beacon jitter only; nonces come from the system's secure random source.
    ///
    /// - Throws: ``ConfigurationError`` for a TCP port outside 1 ... 65535; NIO's errors when the
    ///   target is not a numeric address or the UDP port cannot be bound.
    public static func bind(configuration: Configuration, conversations: [ConversationID],
                            seed: UInt64 = UInt64.random(in: .min ... .max)) async throws -> LANDiscovery {
        guard (1 ... Int(UInt16.max)).contains(configuration.tcpPort) else {
            throw ConfigurationError.invalidTCPPort(configuration.tcpPort)
        }
        let target = try SocketAddress(ipAddress: configuration.targetHost, port: configuration.targetPort)
        var timing = configuration.timing
        timing.tcpPort = UInt16(clamping: configuration.tcpPort)
        let machine = DiscoveryStateMachine(configuration: timing, conversations: conversations, seed: seed)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_broadcast), value: 1)
            .bind(host: configuration.bindHost, port: configuration.bindPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<Datagram, Datagram>(wrappingChannelSynchronously: channel)
                }
            }
        let port = channel.channel.localAddress?.port ?? configuration.bindPort
        return LANDiscovery(channel: channel, localPort: port, machine: machine, target: target)
    }

    /// Replaces the announced (and matched) conversations.
    public func setConversations(_ conversations: [ConversationID]) {
        state.withLock { $0.machine.setConversations(conversations) }
    }

    /// Sends future beacons to `host:port` (a numeric address).
    ///
    /// - Throws: NIO's `SocketAddressError` when `host` is not a numeric IPv4 or IPv6 address.
    public func setTarget(host: String, port: Int) throws {
        let target = try SocketAddress(ipAddress: host, port: port)
        state.withLock { $0.target = target }
    }

    /// The state machine's counters so far (sent, rate-limited, malformed, …).
    public var counters: DiscoveryCounters { state.withLock { $0.machine.counters } }

    /// Stops ``run(clock:)``: closes the socket.
    public func stop() {
        channel.channel.close(promise: nil)
    }

    /// Beacons and listens until ``stop()`` or cancellation, then closes the socket and finishes
    /// ``discoveries``. Call once.
    public func run<C: Clock>(clock: C) async throws where C.Duration == Duration {
        let start = clock.now
        let sink = self.sink
        @Sendable func now() -> Duration { start.duration(to: clock.now) }
        defer { sink.finish() }
        try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Beacons: the machine says when; the nonce comes from the system CSPRNG.
                group.addTask {
                    var actions = self.state.withLock { $0.machine.start(now: now()) }
                    while !Task.isCancelled {
                        var delay: Duration?
                        for action in actions {
                            switch action {
                            case .sendBeacon(let bytes):
                                let target = self.state.withLock { $0.target }
                                try? await outbound.write(Datagram(remoteAddress: target, data: ByteBuffer(bytes: bytes)))
                            case .scheduleBeacon(let after):
                                delay = after
                            case .discovered(let discovery):
                                sink.yield(discovery)
                            }
                        }
                        guard let delay else { return }
                        try await clock.sleep(for: delay)
                        let nonce = Self.freshNonce()
                        actions = self.state.withLock { $0.machine.beaconDue(nonce: nonce, now: now()) }
                    }
                }
                // Datagrams: every one goes to the machine; a report goes to the stream.
                group.addTask {
                    for try await datagram in inbound {
                        let host = datagram.remoteAddress.ipAddress ?? "\(datagram.remoteAddress)"
                        let bytes = Array(datagram.data.readableBytesView)
                        let actions = self.state.withLock { $0.machine.received(bytes, from: host, now: now()) }
                        for case .discovered(let discovery) in actions { sink.yield(discovery) }
                    }
                }
                // Either task ending (socket closed, cancellation) ends both.
                defer { group.cancelAll() }
                _ = try await group.next()
            }
        }
    }

    /// 16 bytes from the system's cryptographically secure generator.
    private static func freshNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var nonce: [UInt8] = []
        nonce.reserveCapacity(DiscoveryBeacon.nonceByteCount)
        while nonce.count < DiscoveryBeacon.nonceByteCount {
            withUnsafeBytes(of: generator.next() as UInt64) { nonce.append(contentsOf: $0) }
        }
        return Array(nonce.prefix(DiscoveryBeacon.nonceByteCount))
    }
}
