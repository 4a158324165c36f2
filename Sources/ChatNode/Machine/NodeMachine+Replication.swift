import ChatControl
import ChatCore
import ChatSync
import ChatWire

/// Replication over sessions, membership changes, and peer exchange.
extension NodeMachine {
    // MARK: - Replication machines

    /// Starts replicating `conversation` over the session on `link`, from the replica's clock
    /// read by the shell. Nil when the session ended or stopped carrying the conversation while
    /// the clock was read, or its peer was removed from the conversation meanwhile (decided
    /// again here, after the read).
    mutating func startReplication(link id: Int, conversation: ConversationID, localClock: VectorClock, now: Duration,
                                   membership: MembershipDirectory) -> [ReplicationAction]? {
        guard let peer = sessions[id]?.peer, peer.conversations.contains(conversation),
              !membership.isRevoked(peer.key.replicaID, from: conversation),
              sessions[id]?.replication[conversation] == nil else { return nil }
        var machine = ReplicationStateMachine(conversation: conversation, configuration: configuration.replication,
                                              seed: random.next())
        let actions = machine.start(localClock: localClock, now: now)
        sessions[id]?.replication[conversation] = machine
        return actions
    }

    /// Steps the replication machine of `conversation` on `link` with `step`; nil when there is
    /// none (the session ended, or the conversation was revoked for its peer since). The machine
    /// is kept as `step` left it even when it throws.
    mutating func replicate(link id: Int, _ conversation: ConversationID,
                            _ step: (inout ReplicationStateMachine) throws -> [ReplicationAction]) rethrows -> [ReplicationAction]? {
        guard var machine = sessions[id]?.replication[conversation] else { return nil }
        defer { sessions[id]?.replication[conversation] = machine }
        return try step(&machine)
    }

    /// The shell read `conversation`'s clock for the session on `link` (``NodeDirective/replicate(link:conversations:)``):
    /// start replicating it there (see ``startReplication(link:conversation:localClock:now:membership:)``).
    mutating func onClockRead(link id: Int, _ conversation: ConversationID, localClock: VectorClock, now: Duration,
                              membership: MembershipDirectory) -> [NodeDirective] {
        let actions = startReplication(link: id, conversation: conversation, localClock: localClock, now: now,
                                       membership: membership)
        return directives(actions ?? [], link: id, conversation)
    }

    /// The shell read the stored batches a ``NodeDirective/loadStoredBatches(link:_:above:limit:)`` asked for.
    mutating func onStoredBatchesLoaded(_ batches: [AuthenticatedBatch], link id: Int, _ conversation: ConversationID,
                                        now: Duration) -> [NodeDirective] {
        directives(replicate(link: id, conversation) { $0.storedBatchesLoaded(batches, now: now) }, link: id, conversation)
    }

    /// The shell loaded the batches a peer wanted by hash (``NodeDirective/loadWanted(_:link:_:)``).
    mutating func onWantedLoaded(_ batches: [[UInt8]], link id: Int, _ conversation: ConversationID) -> [NodeDirective] {
        directives(replicate(link: id, conversation) { $0.wantedBatchesLoaded(batches) }, link: id, conversation)
    }

    /// A timer armed by ``NodeDirective/armTimer(_:after:)`` is due.
    mutating func onTimer(_ timer: NodeTimer, now: Duration, wallNow: UInt64, membership: MembershipDirectory) -> [NodeDirective] {
        switch timer {
        case .replication(let id, let conversation):
            directives(replicate(link: id, conversation) { $0.timerFired(now: now) }, link: id, conversation)
        case .presence(let conversation):
            onPresenceTimer(conversation, wallNow: wallNow, membership: membership)
        }
    }

    /// The peer on `link` sent these batches and the replica checked them: every `authentic`
    /// one is held by the sender (the sender stored what it sent, so it holds what that names),
    /// and what they name on a branch this replica lacks is asked for.
    mutating func onIngested(authentic: [AuthenticatedBatch], wanted: [BatchDependency], link id: Int,
                             _ conversation: ConversationID) -> [NodeDirective] {
        directives(replicate(link: id, conversation) { replication in
            replication.peerHolds(authentic)
            return wanted.isEmpty ? [] : replication.want(wanted)
        }, link: id, conversation)
    }

    /// Batches were stored and applied in `conversation` (a peer's, or this node's own): push
    /// them to every session of the conversation (each machine skips what its peer holds); on a
    /// membership change act on it (revoked peers disconnected, new members dialled) and try to
    /// finish a join whose history has arrived; then send batches that reveal a fork
    /// (`evidence`) to every session.
    /// - Complexity: O(s · b) for s sessions replicating the conversation and b batches.
    mutating func onCommitted(_ batches: [AuthenticatedBatch], clockAfter: VectorClock, evidence: [AuthenticatedBatch] = [],
                              in conversation: ConversationID, now: Duration, membership: MembershipDirectory) -> [NodeDirective] {
        var directives: [NodeDirective] = []
        if !batches.isEmpty {
            for id in links(replicating: conversation) {
                let actions = replicate(link: id, conversation) { $0.pushNew(batches: batches, clockAfter: clockAfter, now: now) }
                counters.batchesPushed += actions?.reduce(0) {
                    if case .send(.batches(_, let sent)) = $1 { $0 + sent.count } else { $0 }
                } ?? 0
                directives += self.directives(actions, link: id, conversation)
            }
            // Membership changes only with governance operations: messages and edits skip this.
            if batches.contains(where: \.changesGovernance) {
                directives += onGovernanceChanged(conversation, membership: membership) + [.completeJoin(conversation)]
            }
        }
        if !evidence.isEmpty {
            for id in links(replicating: conversation) {
                directives += self.directives(replicate(link: id, conversation) { $0.pushEvidence(evidence) }, link: id, conversation)
            }
        }
        return directives
    }

    /// A replication machine's actions as the shell's directives.
    func directives(_ actions: [ReplicationAction]?, link id: Int, _ conversation: ConversationID) -> [NodeDirective] {
        (actions ?? []).map { action in
            switch action {
            case .send(let frame): .send(frame, link: id)
            case .scheduleTimer(let delay): .armTimer(.replication(link: id, conversation), after: delay)
            case .loadStoredBatches(let above, let limit): .loadStoredBatches(link: id, conversation, above: above, limit: limit)
            case .ingest(let batches): .ingest(batches, link: id, conversation)
            case .sendWanted(let dependencies): .loadWanted(dependencies, link: id, conversation)
            }
        }
    }

    /// The replication machines' traffic counters of the session on `link`, summed.
    func replicationCounters(link id: Int) -> (sent: Int, received: Int, clocks: Int) {
        guard let replication = sessions[id]?.replication else { return (0, 0, 0) }
        return replication.values.reduce((0, 0, 0)) {
            ($0.0 + $1.counters.batchesSent, $0.1 + $1.counters.batchesReceived, $0.2 + $1.counters.clocksReceived)
        }
    }

    // MARK: - Membership changes

    /// The governance of `conversation` changed (`membership` as of the commit): stop
    /// replicating it with peers removed from it, close their sessions (`revoked`) when nothing
    /// else is shared with them, stop redialing removed members, and dial members whose address
    /// is known and who have no session yet.
    /// - Complexity: O(k + s) for k known addresses and s sessions, plus the dials.
    mutating func onGovernanceChanged(_ conversation: ConversationID, membership: MembershipDirectory) -> [NodeDirective] {
        var directives: [NodeDirective] = []
        for (replica, endpoint) in knownAddresses.sorted(by: { $0.key < $1.key })
        where membership.isRevoked(replica, from: conversation) {
            directives += stopDialingRemoved(replica, at: endpoint, membership: membership)
        }
        for id in sessions.keys.sorted() {
            guard let session = sessions[id], let peerID = session.peerID, session.replication[conversation] != nil,
                  membership.isRevoked(peerID, from: conversation) else { continue }
            sessions[id]?.replication[conversation]?.stop()
            sessions[id]?.replication[conversation] = nil
            directives.append(.cancelTimer(.replication(link: id, conversation)))
            if sessions[id]?.replication.isEmpty == true {
                counters.revokedDisconnects += 1
                directives.append(.close(link: id, .revoked))
                directives += stopDialingRemoved(peerID, at: session.endpoint, membership: membership)
            }
        }
        return directives + dialKnownMembers(of: conversation, membership: membership)
    }

    // MARK: - Peer exchange

    /// Tells the peer on `link` where this node and the members it knows listen, for each
    /// conversation the session carries (at most ``WireLimits/maxPeerAddresses`` each).
    /// - Complexity: O(c · k log k) for c conversations and k known addresses.
    func announcement(to id: Int, membership: MembershipDirectory) -> [NodeDirective] {
        guard let peer = sessions[id]?.peer else { return [] }
        var directives: [NodeDirective] = []
        for conversation in peer.conversations {
            var addresses: [PeerAddress] = []
            if let own = advertised, let port = UInt16(exactly: own.port),
               let address = try? PeerAddress(replica: replicaID, host: own.host, port: port) {
                addresses.append(address)
            }
            for (replica, endpoint) in knownAddresses.sorted(by: { $0.key < $1.key })
            where replica != peer.key.replicaID && membership.isMember(replica, of: conversation) {
                guard addresses.count < WireLimits.default.maxPeerAddresses, let port = UInt16(exactly: endpoint.port),
                      let address = try? PeerAddress(replica: replica, host: endpoint.host, port: port) else { continue }
                addresses.append(address)
            }
            if !addresses.isEmpty { directives.append(.send(.peers(conversation: conversation, addresses: addresses), link: id)) }
        }
        return directives
    }

    /// Addresses the peer on `link` announced for `conversation`: remember them (durably for
    /// members), dial members this node should connect to (the smaller key dials, so each pair
    /// connects once), and pass the new ones on to the conversation's other sessions. Ignored
    /// from a session that does not replicate the conversation.
    mutating func onPeersReceived(_ addresses: [PeerAddress], in conversation: ConversationID, link id: Int,
                                  membership: MembershipDirectory) -> [NodeDirective] {
        guard replicates(conversation, link: id) else { return [] }
        var learned: [PeerAddress] = []
        var directives: [NodeDirective] = []
        for address in addresses where address.replica != replicaID {
            let endpoint = PeerEndpoint(host: address.host, port: Int(address.port))
            guard knownAddresses[address.replica] != endpoint else { continue }
            knownAddresses[address.replica] = endpoint
            learned.append(address)
            if membership.isMember(address.replica, of: conversation) {
                directives.append(.rememberAddress(address.replica, endpoint, conversations: [conversation]))
            }
        }
        guard !learned.isEmpty else { return directives }
        directives += dialKnownMembers(of: conversation, membership: membership)
        for other in links(replicating: conversation) where other != id {
            directives.append(.send(.peers(conversation: conversation, addresses: learned), link: other))
        }
        return directives
    }
}
