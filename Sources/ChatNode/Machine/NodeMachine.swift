import ChatControl
import ChatCore
import ChatStore
import ChatSync
import ChatWire

/// The node's policy as a pure state machine, in the shape of swift-cluster-membership's
/// `SWIM.Instance`: each event is one input (`onSessionEstablished`, `onGovernanceChanged`,
/// `onPeersReceived`, …) that updates the state and returns ``NodeDirective``s for the ``Node``
/// actor to carry out. Time (`now`), randomness (a seeded generator) and membership (the
/// ``MembershipDirectory`` as of the latest commit) come in as inputs, so every decision can be
/// driven event by event in tests without sockets.
///
/// It owns the sessions (``SessionState``, with their replication machines), the addresses
/// known for peers, the addresses being dialled, the hosts refused for misbehaving, the joins
/// in progress and why members refused them, and the node-wide counters.
struct NodeMachine: Sendable {
    /// What the machine is configured with.
    struct Configuration: Sendable {
        /// This node's replica id.
        var replicaID: ReplicaID
        /// Peers to keep connected to whatever happens (``NodeConfiguration/peers``).
        var configuredPeers: [PeerEndpoint] = []
        /// The most sessions peer exchange and restarts dial on their own.
        var maxPeers = 8
        /// The most incoming connections served at once.
        var maxIncomingConnections = 256
        /// Replication tunables for each conversation of each session.
        var replication = ReplicationConfiguration()
        /// Seeds the replication machines' and redials' jitter.
        var seed: UInt64 = 0
    }

    /// The machine of a node configured with `node`.
    init(node: NodeConfiguration) {
        self.init(configuration: Configuration(
            replicaID: node.identity.publicKey.replicaID, configuredPeers: node.peers, maxPeers: node.maxPeers,
            maxIncomingConnections: node.maxIncomingConnections, replication: node.replication, seed: node.seed))
    }

    let configuration: Configuration
    // The state below is changed only by the machine's own inputs (in this file and its
    // extensions); the shell reads it.
    var replicaID: ReplicaID { configuration.replicaID }

    /// Sessions by link id.
    var sessions: [Int: SessionState] = [:]
    var nextLinkID = 0
    /// Addresses learned for peers (dialled, advertised in peer exchange, remembered).
    var knownAddresses: [ReplicaID: PeerEndpoint] = [:]
    /// The addresses this node keeps dialing.
    var dialing: Set<PeerEndpoint> = []
    /// Hosts whose connections are refused until the instant given: they flooded or sent garbage.
    var bannedHosts = HostOffenceLedger()
    /// Where this node listens, and where peers should dial it (the advertised address, else
    /// where it listens).
    private(set) var listening: PeerEndpoint?
    private(set) var advertised: PeerEndpoint?
    /// Conversations this node is joining: the invite token to present and record.
    var pendingJoins: [ConversationID: PendingJoin] = [:]
    /// Why a decline could not be signed, for the `decline` waiting on it.
    var declineFailures: [ConversationID: NodeCommandError] = [:]
    /// Why members refused a join still waiting to be admitted, by the address that refused.
    var joinRefusals: [ConversationID: [PeerEndpoint: RefuseCode]] = [:]
    /// Public joins: admissions signed as a member, and the one received as a joiner.
    var publicJoins = PublicJoinAdmissions()
    /// Direct invitations members' nodes delivered here, by signer and token id.
    var receivedInvitations: [ReceivedInvitationKey: ReceivedInvitation] = [:]
    /// Invitations this node declined, by signer and token id.
    var declinedInvitations: Set<ReceivedInvitationKey> = []
    /// Ephemeral state and gossip de-duplication per conversation.
    var gossips: [ConversationID: EphemeralGossip] = [:]
    var ephemeralCounter = EphemeralCounter()
    /// Per conversation: this node's presence and heartbeat budget (what receivers accept, with
    /// the update held back when it was spent), and whether its timer is armed.
    var controlPacers: [ConversationID: EphemeralControlPacer] = [:]
    var presenceTimersArmed: Set<ConversationID> = []
    var counters = NodeCounters()
    var random: SeededGenerator
    var isStopped = false
    /// Cut off from the network on purpose: no sessions, no dials, inbound connections refused.
    var isOffline = false

    init(configuration: Configuration) {
        self.configuration = configuration
        random = SeededGenerator(seed: configuration.seed)
    }

    // MARK: - Queries

    /// The peers with an established session.
    var connectedPeers: Set<ReplicaID> { Set(sessions.values.compactMap(\.peerID)) }

    /// How many sessions carry `conversation`: a peer's node admitted this one to it.
    /// - Complexity: O(s) for s sessions.
    func sessionCount(carrying conversation: ConversationID) -> Int {
        sessions.values.count { $0.peer?.conversations.contains(conversation) == true }
    }

    /// The number of established sessions.
    var establishedCount: Int { sessions.values.count { $0.peer != nil } }

    /// The sessions replicating `conversation`, by link id.
    /// - Complexity: O(sessions log sessions).
    func links(replicating conversation: ConversationID) -> [Int] {
        sessions.filter { $0.value.replication[conversation] != nil }.keys.sorted()
    }

    /// True when the session on `link` replicates `conversation`.
    func replicates(_ conversation: ConversationID, link: Int) -> Bool {
        sessions[link]?.replication[conversation] != nil
    }

    /// The established sessions with `peer`, by link id.
    func links(to peer: ReplicaID) -> [Int] {
        sessions.filter { $0.value.peerID == peer }.keys.sorted()
    }

    /// How long the redial loop of `endpoint` waits before dialing (nil: dial now): offline, or a
    /// session with the peer known there already carries every join dialled through it.
    func redialDelay(for endpoint: PeerEndpoint) -> Duration? {
        if isOffline { return .milliseconds(50) }
        return isAlreadyConnected(to: endpoint) ? .milliseconds(500) : nil
    }

    /// True when a session with the peer known to listen at `endpoint` already runs (either
    /// side dialled) and carries every conversation this node is still joining through that
    /// address, so dialing again would only make a duplicate. (A join needs a session dialled
    /// with its token, even when the peer dialled this node for other conversations.)
    /// - Complexity: O(known addresses + sessions + joins).
    func isAlreadyConnected(to endpoint: PeerEndpoint) -> Bool {
        guard let key = knownAddresses.first(where: { $0.value == endpoint })?.key else { return false }
        let carrying = sessions.values.filter { $0.peerID == key }
        guard !carrying.isEmpty else { return false }
        let carried = Set(carrying.flatMap { $0.peer?.conversations ?? [] })
        return pendingJoins.allSatisfy { $0.value.recorded || !$0.value.targets.contains(endpoint) || carried.contains($0.key) }
    }

    /// The established sessions as `status` lists them, by link id; `inboundBytes` gives what
    /// each has read and not yet handled (the shell's).
    func peerStatus(inboundBytes: (Int) -> Int) -> [NodeStatus.Peer] {
        sessions.values.sorted { $0.id < $1.id }.compactMap { session in
            guard let peer = session.peer else { return nil }
            let traffic = replicationCounters(link: session.id)
            return NodeStatus.Peer(key: peer.key.text,
                                   address: session.endpoint?.description ?? knownAddresses[peer.key.replicaID]?.description,
                                   dialed: session.role == .dialer, conversations: peer.conversations.map(\.hex),
                                   batchesSent: traffic.sent, batchesReceived: traffic.received, clocksReceived: traffic.clocks,
                                   inboundBytes: inboundBytes(session.id))
        }
    }

    // MARK: - Node lifecycle

    /// The node listens at `endpoint`: peers are told to dial it there unless `advertised` says otherwise.
    mutating func onListening(at endpoint: PeerEndpoint, advertised: PeerEndpoint?) {
        listening = endpoint
        self.advertised = advertised ?? endpoint
    }

    /// The node starts: dial the configured peers, then every member remembered in a
    /// conversation held (`remembered`, by conversation), up to ``Configuration/maxPeers``
    /// addresses — after a restart nobody else knows to dial this node; the pair's tie-break
    /// closes a second session.
    mutating func onStart(remembered: [ConversationID: [RememberedAddress]], membership: MembershipDirectory) -> [NodeDirective] {
        var directives = configuration.configuredPeers.flatMap { dial($0) }
        var endpoints: [PeerEndpoint] = []
        for conversation in remembered.keys.sorted() {
            for address in remembered[conversation] ?? []
            where address.replica != replicaID && membership.isMember(address.replica, of: conversation) {
                let endpoint = PeerEndpoint(host: address.host, port: Int(address.port))
                if knownAddresses[address.replica] == nil { knownAddresses[address.replica] = endpoint }
                if !endpoints.contains(endpoint) { endpoints.append(endpoint) }
            }
        }
        for endpoint in endpoints.prefix(configuration.maxPeers) { directives += dial(endpoint) }
        return directives
    }

    /// The node stops: every session is closed (`going_away`) and nothing is dialled any more.
    mutating func onStop() -> [NodeDirective] {
        guard !isStopped else { return [] }
        isStopped = true
        controlPacers = [:]
        presenceTimersArmed = []
        let closing = sessions.keys.sorted().map { NodeDirective.close(link: $0, .goingAway) }
        let stopping = dialing.sorted().map { NodeDirective.stopDialing($0) }
        dialing = []
        return closing + stopping
    }

    /// Closes every session, as a dropped network would; the dialled peers are redialled.
    func dropSessions() -> [NodeDirective] {
        sessions.keys.sorted().map { .close(link: $0, .goingAway) }
    }

    /// Cut off from the network (a laptop closing its lid): sessions close, dials wait.
    mutating func goOffline() -> [NodeDirective] {
        isOffline = true
        return dropSessions()
    }

    /// Back on the network: the redial loops dial again at once.
    mutating func goOnline() { isOffline = false }

    // MARK: - Dialing

    /// Keeps a session with `endpoint` (dial and redial), unless already dialing it, stopped, or
    /// it is this node's own address.
    mutating func dial(_ endpoint: PeerEndpoint) -> [NodeDirective] {
        guard !dialing.contains(endpoint), !isStopped, endpoint != listening else { return [] }
        dialing.insert(endpoint)
        return [.dial(endpoint, seed: random.next())]
    }

    /// Stops dialing `endpoint`.
    mutating func stopDialing(_ endpoint: PeerEndpoint) -> [NodeDirective] {
        guard dialing.remove(endpoint) != nil else { return [] }
        return [.stopDialing(endpoint)]
    }

    /// Dials `endpoint`, or — when a session with it already runs — closes that session so the
    /// redial offers the conversations this node holds now (a session's set is fixed at its
    /// handshake). A dialer waiting out a back-off (no session) is started again at once.
    mutating func dialOrRefresh(_ endpoint: PeerEndpoint) -> [NodeDirective] {
        guard dialing.contains(endpoint) else { return dial(endpoint) }
        let open = sessions.values.filter { $0.endpoint == endpoint }.map(\.id).sorted()
        guard !open.isEmpty else { return stopDialing(endpoint) + dial(endpoint) }
        return open.map { .close(link: $0, .goingAway) }
    }

    /// Stops redialing `endpoint` when `peer` is a member of nothing this node holds (it was
    /// removed): its sessions would only be closed again. Configured peers are always redialled.
    mutating func stopDialingRemoved(_ peer: ReplicaID, at endpoint: PeerEndpoint?,
                                     membership: MembershipDirectory) -> [NodeDirective] {
        guard let endpoint, !configuration.configuredPeers.contains(endpoint),
              !membership.conversations.contains(where: { membership.isMember(peer, of: $0) }) else { return [] }
        return stopDialing(endpoint)
    }

    /// Dials members of `conversation` whose address is known and who have no session with this
    /// node, up to ``Configuration/maxPeers`` sessions; of each pair only the smaller key dials,
    /// so the pair connects once.
    /// - Complexity: O(k log k + s) for k known addresses and s sessions.
    mutating func dialKnownMembers(of conversation: ConversationID, membership: MembershipDirectory) -> [NodeDirective] {
        guard !isStopped else { return [] }
        let connected = connectedPeers
        var open = sessions.count
        var directives: [NodeDirective] = []
        for (replica, endpoint) in knownAddresses.sorted(by: { $0.key < $1.key }) {
            guard open < configuration.maxPeers else { break }
            guard replicaID < replica, !connected.contains(replica), !dialing.contains(endpoint),
                  membership.isMember(replica, of: conversation) else { continue }
            directives += dial(endpoint)
            open += 1
        }
        return directives
    }

    /// Forgets the addresses of an abandoned join: stops dialing each unless something else
    /// needs it (a configured peer, a known member, an established session there).
    mutating func abandonTargets(_ targets: Set<PeerEndpoint>) -> [NodeDirective] {
        let needed = Set(configuration.configuredPeers).union(knownAddresses.values)
        let connected = Set(sessions.values.filter { $0.peer != nil }.compactMap(\.endpoint))
        return targets.sorted().filter { !needed.contains($0) && !connected.contains($0) }.flatMap { stopDialing($0) }
    }
}
