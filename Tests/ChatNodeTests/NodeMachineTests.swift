import ChatControl
import ChatCore
import ChatCrypto
@testable import ChatNode
import ChatStore
import ChatSync
import ChatWire
import Testing

/// ``NodeMachine`` driven event by event, without sockets: admission of sessions, one session
/// per peer, revocation whichever side dials, bans, redial after a restart, peer exchange and
/// join refusals. Each test feeds inputs and checks the directives returned.
@Suite struct NodeMachineTests {
    /// Three people; `small` has the smallest replica id, `large` the largest.
    let small: SigningKey
    let middle: SigningKey
    let large: SigningKey
    let team = ConversationID(bytes: Array(repeating: 0xA1, count: 32))!
    let other = ConversationID(bytes: Array(repeating: 0xB2, count: 32))!
    let smallAddress = PeerEndpoint(host: "10.0.0.1", port: 7001)
    let middleAddress = PeerEndpoint(host: "10.0.0.2", port: 7002)
    let largeAddress = PeerEndpoint(host: "10.0.0.3", port: 7003)
    let now = Duration.seconds(100)

    init() throws {
        let keys = try (1 ... 3).map { try SigningKey(seed: Array(repeating: UInt8($0 * 17), count: 32)) }
            .sorted { $0.publicKey.replicaID < $1.publicKey.replicaID }
        (small, middle, large) = (keys[0], keys[1], keys[2])
    }

    func machine(_ key: SigningKey, peers: [PeerEndpoint] = [], maxPeers: Int = 8, maxIncoming: Int = 256,
                 listening: PeerEndpoint? = nil) -> NodeMachine {
        var machine = NodeMachine(configuration: .init(replicaID: key.publicKey.replicaID, configuredPeers: peers,
                                                       maxPeers: maxPeers, maxIncomingConnections: maxIncoming, seed: 7))
        if let listening { machine.onListening(at: listening, advertised: nil) }
        return machine
    }

    /// A directory where everyone given is a member of `team` (and of `other` when asked), and
    /// `removed` were removed from `team`.
    func membership(_ members: [SigningKey], removed: [SigningKey] = [], alsoOther: [SigningKey] = []) -> MembershipDirectory {
        let directory = MembershipDirectory()
        directory.publish(team, permissions: Dictionary(uniqueKeysWithValues: members.map { ($0.publicKey.replicaID, Permission.comment) }),
                          revoked: Set(removed.map(\.publicKey.replicaID)))
        if !alsoOther.isEmpty {
            directory.publish(other, permissions: Dictionary(uniqueKeysWithValues: alsoOther.map { ($0.publicKey.replicaID, Permission.comment) }),
                              revoked: [])
        }
        return directory
    }

    func peer(_ key: SigningKey, _ conversations: [ConversationID]) -> SessionPeer {
        SessionPeer(key: key.publicKey, version: 1, conversations: conversations)
    }

    /// Opens and establishes a session; returns its link id and the directives.
    func establish(_ machine: inout NodeMachine, _ role: ConnectionRole, with key: SigningKey,
                   _ conversations: [ConversationID], membership: MembershipDirectory) throws -> (Int, [NodeDirective]) {
        let opened = machine.openSession(role: role, held: [team, other], membership: membership)
        let plan = try #require(opened)
        let directives = machine.onSessionEstablished(link: plan.link, agreed: peer(key, conversations), now: now,
                                                      membership: membership)
        return (plan.link, directives)
    }

    func closed(_ directives: [NodeDirective]) -> [Int] {
        directives.compactMap { if case .close(let link, _) = $0 { link } else { nil } }
    }

    // MARK: - One session per peer

    /// Both nodes dial each other at once, and each sees the two handshakes finish in either
    /// order: both keep the same connection (the one the smaller key dialled) and close the other.
    @Test(arguments: [false, true], [false, true])
    func simultaneousDialsKeepTheSessionTheSmallerKeyDialled(smallSeesDialFirst: Bool, largeSeesDialFirst: Bool) throws {
        let directory = membership([small, large])
        var smallNode = machine(small)
        var largeNode = machine(large)
        // On each node, one session it dialled and one it accepted.
        func run(_ node: inout NodeMachine, peerKey: SigningKey, peerAddress: PeerEndpoint, dialFirst: Bool) throws -> (dialled: Int, accepted: Int, closed: [Int]) {
            let order: [ConnectionRole] = dialFirst ? [.dialer(peerAddress), .listener] : [.listener, .dialer(peerAddress)]
            var links: [ConnectionRole: Int] = [:]
            var closedLinks: [Int] = []
            for role in order {
                let (link, directives) = try establish(&node, role, with: peerKey, [team], membership: directory)
                links[role] = link
                closedLinks += closed(directives)
            }
            return (try #require(links[.dialer(peerAddress)]), try #require(links[.listener]), closedLinks)
        }
        let onSmall = try run(&smallNode, peerKey: large, peerAddress: largeAddress, dialFirst: smallSeesDialFirst)
        let onLarge = try run(&largeNode, peerKey: small, peerAddress: smallAddress, dialFirst: largeSeesDialFirst)
        // The connection `small` dialled is `small`'s dialled session and `large`'s accepted one.
        #expect(onSmall.closed == [onSmall.accepted])
        #expect(onLarge.closed == [onLarge.dialled])
        #expect(smallNode.connectedPeers == [large.publicKey.replicaID])
    }

    /// A second session that carries more conversations replaces the first (it was made after
    /// one side gained a conversation), whoever dialled it.
    @Test func aSessionSharingMoreConversationsReplacesTheOld() throws {
        let directory = membership([small, large], alsoOther: [small, large])
        var node = machine(large)
        let (old, _) = try establish(&node, .dialer(smallAddress), with: small, [team], membership: directory)
        let (new, directives) = try establish(&node, .listener, with: small, [team, other], membership: directory)
        #expect(closed(directives) == [old])
        #expect(directives.contains(.replicate(link: new, conversations: [team, other])))
        _ = node.onSessionClosed(link: old, backOff: nil, host: nil, inboundPeak: 0, now: now)
        // And the other way round: a session carrying fewer is the one closed.
        let (fewer, again) = try establish(&node, .dialer(smallAddress), with: small, [team], membership: directory)
        #expect(closed(again) == [fewer])
        #expect(!again.contains(.replicate(link: fewer, conversations: [team])))
    }

    // MARK: - Revocation

    /// A removed member's session is closed `revoked` whichever side dialled (its node may not
    /// know of the removal and admit it), nothing is replicated, and it is no longer redialled.
    @Test(arguments: [true, false])
    func aRemovedMemberIsClosedWhicheverSideDialled(weDialled: Bool) throws {
        let directory = membership([small], removed: [middle])
        var node = machine(small)
        _ = node.dial(middleAddress)
        let role: ConnectionRole = weDialled ? .dialer(middleAddress) : .listener
        let (link, directives) = try establish(&node, role, with: middle, [team], membership: directory)
        #expect(directives.first == .close(link: link, .revoked))
        #expect(!directives.contains { if case .replicate = $0 { true } else { false } })
        #expect(directives.contains(.stopDialing(middleAddress)) == weDialled)
        #expect(node.counters.revokedDisconnects == 1)
        #expect(node.connectedPeers.isEmpty)
    }

    /// A configured peer (`--peer`) is redialled even once removed: the operator asked for it.
    @Test func aConfiguredPeerIsRedialledEvenWhenRemoved() throws {
        let directory = membership([small], removed: [middle])
        var node = machine(small, peers: [middleAddress])
        _ = node.onStart(remembered: [:], membership: directory)
        let (link, directives) = try establish(&node, .dialer(middleAddress), with: middle, [team], membership: directory)
        #expect(directives == [.close(link: link, .revoked)])
        #expect(node.dialing.contains(middleAddress))
    }

    /// A removal committed while a session runs stops replicating that conversation with the
    /// removed peer; the session is closed (`revoked`) once nothing else is shared, and the
    /// peer is no longer dialled.
    @Test func aRemovalStopsReplicationThenClosesTheSession() throws {
        let before = membership([small, middle], alsoOther: [small, middle])
        var node = machine(small)
        _ = node.dial(middleAddress)
        let (link, _) = try establish(&node, .dialer(middleAddress), with: middle, [team, other], membership: before)
        for conversation in [team, other] {
            let started = node.startReplication(link: link, conversation: conversation, localClock: VectorClock(), now: now,
                                                membership: before)
            #expect(started != nil)
        }
        let removedFromTeam = membership([small], removed: [middle], alsoOther: [small, middle])
        let first = node.onGovernanceChanged(team, membership: removedFromTeam)
        #expect(first == [.cancelTimer(.replication(link: link, team))])
        #expect(node.links(replicating: team).isEmpty && node.links(replicating: other) == [link])
        // Removed from the other conversation too (publishing `other` without him).
        removedFromTeam.publish(other, permissions: [small.publicKey.replicaID: .comment], revoked: [middle.publicKey.replicaID])
        let second = node.onGovernanceChanged(other, membership: removedFromTeam)
        #expect(second == [.stopDialing(middleAddress), .cancelTimer(.replication(link: link, other)), .close(link: link, .revoked)])
        #expect(node.counters.revokedDisconnects == 1)
    }

    /// A removal that lands while the shell reads a replica's clock: replication does not start
    /// (decided again after the read).
    @Test func aRemovalDuringTheClockReadStartsNoReplication() throws {
        let directory = membership([small, middle])
        var node = machine(small)
        let (link, directives) = try establish(&node, .listener, with: middle, [team], membership: directory)
        #expect(directives.contains(.replicate(link: link, conversations: [team])))
        directory.publish(team, permissions: [small.publicKey.replicaID: .admin], revoked: [middle.publicKey.replicaID])
        let afterRemoval = node.startReplication(link: link, conversation: team, localClock: VectorClock(), now: now,
                                                 membership: directory)
        #expect(afterRemoval == nil)
        // A closed session starts nothing either.
        _ = node.onSessionClosed(link: link, backOff: nil, host: nil, inboundPeak: 0, now: now)
        let afterClose = node.startReplication(link: link, conversation: team, localClock: VectorClock(), now: now,
                                               membership: membership([small, middle]))
        #expect(afterClose == nil)
    }

    // MARK: - Incoming connections

    /// A host whose sessions misbehaved three times within a minute is refused for the
    /// stay-away the session asked for, and counted; then served again.
    @Test func aHostThatMisbehavesRepeatedlyIsRefusedForAWhile() throws {
        var node = machine(small)
        let directory = membership([small])
        for offence in 0 ..< 3 {
            let served = node.onIncomingConnection(from: "192.0.2.9", serving: 0, now: now + .seconds(offence))
            #expect(served)
            let opened = node.openSession(role: .listener, held: [team], membership: directory)
            let plan = try #require(opened)
            _ = node.onSessionClosed(link: plan.link, backOff: .seconds(30), host: "192.0.2.9", inboundPeak: 0,
                                     now: now + .seconds(offence))
        }
        let banned = node.onIncomingConnection(from: "192.0.2.9", serving: 0, now: now + .seconds(3))
        let otherHost = node.onIncomingConnection(from: "192.0.2.10", serving: 0, now: now + .seconds(3))
        #expect(!banned)
        #expect(otherHost, "other hosts are served")
        #expect(node.counters.refusedBanned == 1)
        let later = node.onIncomingConnection(from: "192.0.2.9", serving: 0, now: now + .seconds(33))
        #expect(later)
    }

    /// Offences by dialled peers do not ban a host (the redial loop backs off instead), and a
    /// full node refuses more incoming connections, counted.
    @Test func aFullNodeRefusesAndDialledOffencesDoNotBan() throws {
        var node = machine(small, maxIncoming: 2)
        let directory = membership([small])
        for _ in 0 ..< 3 {
            let opened = node.openSession(role: .dialer(middleAddress), held: [team], membership: directory)
            let plan = try #require(opened)
            let (ending, _) = node.onSessionClosed(link: plan.link, backOff: .seconds(30), host: "192.0.2.9",
                                                   inboundPeak: 10, now: now)
            #expect(ending == SessionEnding(length: nil, backOff: .seconds(30)))
        }
        let underLimit = node.onIncomingConnection(from: "192.0.2.9", serving: 1, now: now)
        let atLimit = node.onIncomingConnection(from: "192.0.2.9", serving: 2, now: now)
        #expect(underLimit && !atLimit)
        #expect(node.counters.refusedFull == 1 && node.counters.refusedBanned == 0)
        #expect(node.counters.inboundPeakBytes == 10)
    }

    /// Stopped or offline: no session opens, nothing is dialled, and every session is closed.
    @Test func offlineAndStoppedOpenNothing() throws {
        var node = machine(small)
        let directory = membership([small, middle])
        let (link, _) = try establish(&node, .listener, with: middle, [team], membership: directory)
        let offline = node.goOffline()
        #expect(offline == [.close(link: link, .goingAway)])
        let openedOffline = node.openSession(role: .listener, held: [team], membership: directory)
        let servedOffline = node.onIncomingConnection(from: nil, serving: 0, now: now)
        #expect(openedOffline == nil && !servedOffline)
        #expect(node.redialDelay(for: middleAddress) == .milliseconds(50))
        node.goOnline()
        #expect(node.redialDelay(for: middleAddress) == nil)
        _ = node.dial(largeAddress)
        let stopping = node.onStop()
        #expect(stopping == [.close(link: link, .goingAway), .stopDialing(largeAddress)])
        let (dialAfter, stopAgain) = (node.dial(middleAddress), node.onStop())
        #expect(dialAfter.isEmpty && stopAgain.isEmpty)
        let openedStopped = node.openSession(role: .dialer(middleAddress), held: [team], membership: directory)
        #expect(openedStopped == nil)
    }

    // MARK: - Dialing

    /// After a restart nobody knows to dial this node: it dials its configured peers and the
    /// members it remembers (not itself, not strangers, each address once), up to `maxPeers`.
    @Test func aRestartedNodeRedialsConfiguredPeersAndRememberedMembers() throws {
        let directory = membership([small, middle, large])
        var node = machine(small, peers: [PeerEndpoint(host: "seed.example", port: 1)], maxPeers: 2)
        let stranger = try SigningKey(seed: Array(repeating: 99, count: 32))
        func remembered(_ key: SigningKey, _ address: PeerEndpoint) -> RememberedAddress {
            RememberedAddress(replica: key.publicKey.replicaID, host: address.host, port: UInt16(address.port))
        }
        let directives = node.onStart(remembered: [
            team: [remembered(small, smallAddress), remembered(stranger, PeerEndpoint(host: "10.9.9.9", port: 9)),
                   remembered(middle, middleAddress), remembered(large, largeAddress), remembered(middle, middleAddress)],
        ], membership: directory)
        let dialled = directives.compactMap { if case .dial(let endpoint, _) = $0 { endpoint } else { nil } }
        #expect(dialled == [PeerEndpoint(host: "seed.example", port: 1), middleAddress, largeAddress])
        #expect(node.knownAddresses[middle.publicKey.replicaID] == middleAddress)
        // Each address is dialled once, however often asked.
        let again = node.dial(middleAddress)
        #expect(again.isEmpty)
    }

    /// Peer exchange: addresses of members are remembered, passed on to the conversation's other
    /// sessions, and dialled only by the smaller key of each pair; the same news twice is ignored.
    @Test func peerExchangeDialsOnlyFromTheSmallerKey() throws {
        let directory = membership([small, middle, large])
        func address(_ key: SigningKey, _ endpoint: PeerEndpoint) throws -> PeerAddress {
            try PeerAddress(replica: key.publicKey.replicaID, host: endpoint.host, port: UInt16(endpoint.port))
        }
        var node = machine(middle)
        let (fromLarge, _) = try establish(&node, .listener, with: large, [team], membership: directory)
        let (toSmall, _) = try establish(&node, .dialer(smallAddress), with: small, [team], membership: directory)
        for link in [fromLarge, toSmall] {
            _ = node.startReplication(link: link, conversation: team, localClock: VectorClock(), now: now, membership: directory)
        }
        let stranger = try SigningKey(seed: Array(repeating: 98, count: 32))
        let news = [try address(large, largeAddress), try address(stranger, PeerEndpoint(host: "10.8.8.8", port: 8))]
        let directives = node.onPeersReceived(news, in: team, link: toSmall, membership: directory)
        // `large` is a member and has a larger key than this node, but is connected already.
        #expect(!directives.contains { if case .dial = $0 { true } else { false } })
        #expect(directives.contains(.rememberAddress(large.publicKey.replicaID, largeAddress, conversations: [team])))
        #expect(!directives.contains { if case .rememberAddress(let who, _, _) = $0 { who == stranger.publicKey.replicaID } else { false } })
        #expect(directives.contains(.send(.peers(conversation: team, addresses: news), link: fromLarge)))
        let repeated = node.onPeersReceived(news, in: team, link: toSmall, membership: directory)
        #expect(repeated.isEmpty)
        // Once the session with `large` ends, news of it from the smaller side dials it.
        _ = node.onSessionClosed(link: fromLarge, backOff: nil, host: nil, inboundPeak: 0, now: now)
        let moved = [try address(large, PeerEndpoint(host: "10.0.0.33", port: 7003))]
        let again = node.onPeersReceived(moved, in: team, link: toSmall, membership: directory)
        #expect(again.contains { if case .dial(PeerEndpoint(host: "10.0.0.33", port: 7003), _) = $0 { true } else { false } })
        // The larger side never dials the smaller from peer exchange.
        var largeNode = machine(large)
        let (link, _) = try establish(&largeNode, .listener, with: middle, [team], membership: directory)
        _ = largeNode.startReplication(link: link, conversation: team, localClock: VectorClock(), now: now, membership: directory)
        let heard = largeNode.onPeersReceived([try address(small, smallAddress)], in: team, link: link, membership: directory)
        #expect(!heard.contains { if case .dial = $0 { true } else { false } })
        // Nor is anything taken from a session that does not replicate the conversation.
        let unreplicated = largeNode.onPeersReceived([try address(small, smallAddress)], in: other, link: link, membership: directory)
        #expect(unreplicated.isEmpty)
    }

    /// A session announces this node's own address and the members it knows, never the peer's.
    @Test func aNewSessionHearsWhereTheMembersListen() throws {
        let directory = membership([small, middle, large])
        var node = machine(middle, listening: middleAddress)
        _ = try establish(&node, .dialer(largeAddress), with: large, [team], membership: directory)
        let (link, directives) = try establish(&node, .dialer(smallAddress), with: small, [team], membership: directory)
        let expected = try [PeerAddress(replica: middle.publicKey.replicaID, host: middleAddress.host, port: 7002),
                            PeerAddress(replica: large.publicKey.replicaID, host: largeAddress.host, port: 7003)]
        #expect(directives.contains(.send(.peers(conversation: team, addresses: expected), link: link)))
    }

    // MARK: - Joining

    func pendingJoin(through endpoint: PeerEndpoint, token: [UInt8] = [1, 2, 3]) -> PendingJoin {
        var join = PendingJoin(token: token, grant: InviteGrant(conversation: team, permission: .comment,
                                                                issuer: small.publicKey.replicaID,
                                                                tokenID: Array(repeating: 5, count: 16),
                                                                expiresAt: nil, useLimit: nil))
        join.targets = [endpoint]
        return join
    }

    /// A joiner presents its token when it dials, admits the dialled peer to the conversation it
    /// joins, and remembers a member's refusal by address; a shutdown or timeout is no refusal.
    @Test func aJoinerPresentsItsTokenAndRemembersRefusals() throws {
        let directory = membership([small])
        var node = machine(large)
        node.pendingJoins[team] = pendingJoin(through: smallAddress)
        let listenerOpened = node.openSession(role: .listener, held: [team], membership: directory)
        let listenerPlan = try #require(listenerOpened)
        #expect(listenerPlan.inviteToken == nil, "only dialers present a token")
        let dialerPlan = node.openSession(role: .dialer(smallAddress), held: [team], membership: directory)
        let plan = try #require(dialerPlan)
        #expect(plan.inviteToken == [1, 2, 3] && plan.joining == [team])
        node.onSessionClosing(link: plan.link, reason: .refusedByPeer(.goingAway))
        #expect(node.joinRefusals[team] == nil)
        node.onSessionClosing(link: plan.link, reason: .refusedByPeer(.inviteExpired))
        #expect(node.joinRefusals[team] == [smallAddress: .inviteExpired])
        #expect(node.counters.closeReasons["refused_by_peer_invite_expired"] == 1)
    }

    /// The admission of a joiner's session: it admits the peer it dialled to the conversation it
    /// joins even when the directory knows nothing of it; a listener does not.
    @Test func aJoinerAdmitsThePeerItDialledToTheConversationItJoins() {
        let refuseAll: AdmissionPolicy = { _ in .refuse(.notAMember) }
        let request = AdmissionRequest(peer: small.publicKey, conversations: [team, other], inviteToken: nil)
        #expect(NodeMachine.admission(refuseAll, role: .dialer, joining: [team])(request) == .admit(conversations: [team]))
        #expect(NodeMachine.admission(refuseAll, role: .listener, joining: [team])(request) == .refuse(.notAMember))
        let admitOther: AdmissionPolicy = { _ in .admit(conversations: [other]) }
        #expect(NodeMachine.admission(admitOther, role: .dialer, joining: [team])(request) == .admit(conversations: [team, other].sorted()))
    }

    /// The redial loop waits while a session with the peer at an address carries every join
    /// dialled through it, and dials when a join through it is not carried yet.
    @Test func aRedialWaitsOnlyWhileTheJoinsThroughTheAddressAreCarried() throws {
        let directory = membership([small, large], alsoOther: [small, large])
        var node = machine(large)
        #expect(node.redialDelay(for: smallAddress) == nil, "no session")
        _ = try establish(&node, .dialer(smallAddress), with: small, [other], membership: directory)
        #expect(node.redialDelay(for: smallAddress) == .milliseconds(500), "connected, nothing to join")
        node.pendingJoins[team] = pendingJoin(through: smallAddress)
        #expect(node.redialDelay(for: smallAddress) == nil, "the session does not carry the join")
        node.pendingJoins[team]?.recorded = true
        #expect(node.redialDelay(for: smallAddress) == .milliseconds(500), "a recorded join needs no new session")
    }

    /// An abandoned join stops dialing its addresses unless a configured peer, a known member or
    /// a session needs them; an address dialled again with a session open is refreshed.
    @Test func anAbandonedJoinStopsDialingWhatNothingElseNeeds() throws {
        let directory = membership([small, middle])
        var node = machine(large, peers: [middleAddress])
        _ = node.onStart(remembered: [:], membership: directory)
        let lone = PeerEndpoint(host: "10.7.7.7", port: 7)
        _ = node.dial(lone)
        _ = node.dial(smallAddress)
        let (link, _) = try establish(&node, .dialer(smallAddress), with: small, [team], membership: directory)
        let refreshed = node.dialOrRefresh(smallAddress)
        #expect(refreshed == [.close(link: link, .goingAway)])
        let restarted = node.dialOrRefresh(lone)
        #expect(restarted.first == .stopDialing(lone) && restarted.count == 2)
        let abandoned = node.abandonTargets([lone, smallAddress, middleAddress])
        #expect(abandoned == [.stopDialing(lone)])
    }
}
