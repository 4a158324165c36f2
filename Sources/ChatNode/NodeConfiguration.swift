import ChatControl
import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire
import Foundation
import NIOCore

/// Everything a node is configured with.
public struct NodeConfiguration: Sendable {
    /// This node's long-term identity: it signs this node's batches and authenticates its sessions.
    public var identity: SigningKey
    /// Where the store (LMDB) lives.
    public var dataDirectory: String
    /// The address to listen on; port 0 picks a free port; nil: do not listen.
    public var listen: PeerEndpoint?
    /// The address peers should dial to reach this node (defaults to the listening address).
    public var advertised: PeerEndpoint?
    /// Peers to keep connected to (redialled with back-off).
    public var peers: [PeerEndpoint]
    /// Session defaults (the conversation list and token are filled in per connection).
    public var session: SessionConfiguration
    /// Replication tunables.
    public var replication: ReplicationConfiguration
    /// Back-off between redials: first delay and ceiling.
    public var reconnectInitial: Duration
    public var reconnectMaximum: Duration
    /// Seeds the jitter of anti-entropy rounds and redials (session keys always use the system's
    /// secure generator).
    public var seed: UInt64
    /// The node's monotonic clock.
    public var clock: NodeClock
    /// Wall-clock time in ms since the Unix epoch: signed into batches, checked against expiries.
    public var wallClock: @Sendable () -> UInt64
    /// The display name this node gives itself in conversations it creates or joins.
    public var displayName: String?
    /// The most sessions peer exchange dials on its own (configured peers always count).
    public var maxPeers: Int
    /// The most incoming connections served at once; more are closed on arrival (`refusedFull`).
    public var maxIncomingConnections: Int
    /// Per connection, the most bytes read from the socket and not yet handled (``InboundWindow``);
    /// reading pauses while it is full.
    public var inboundWindowBytes: Int

    public init(identity: SigningKey, dataDirectory: String, listen: PeerEndpoint? = PeerEndpoint(host: "127.0.0.1", port: 0),
                advertised: PeerEndpoint? = nil, peers: [PeerEndpoint] = [],
                session: SessionConfiguration = SessionConfiguration(conversations: []),
                replication: ReplicationConfiguration = ReplicationConfiguration(),
                reconnectInitial: Duration = .milliseconds(100), reconnectMaximum: Duration = .seconds(30),
                seed: UInt64 = UInt64.random(in: 0 ... .max), clock: NodeClock = .continuous,
                wallClock: @escaping @Sendable () -> UInt64 = Node.systemWallClock, displayName: String? = nil,
                maxPeers: Int = 8, maxIncomingConnections: Int = 256, inboundWindowBytes: Int = 4 << 20) {
        self.identity = identity
        self.dataDirectory = dataDirectory
        self.listen = listen
        self.advertised = advertised
        self.peers = peers
        self.session = session
        self.replication = replication
        self.reconnectInitial = reconnectInitial
        self.reconnectMaximum = reconnectMaximum
        self.seed = seed
        self.clock = clock
        self.wallClock = wallClock
        self.displayName = displayName
        self.maxPeers = maxPeers
        self.maxIncomingConnections = maxIncomingConnections
        self.inboundWindowBytes = inboundWindowBytes
    }
}
