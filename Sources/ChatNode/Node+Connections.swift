import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import NIOCore

/// One connection as the node sees it: the session's command channel, the peer once admitted,
/// and one replication machine (with its timer) per conversation shared with that peer.
struct Link: Sendable {
    let id: Int
    let role: SessionRole
    let commands: AsyncStream<PeerCommand>.Continuation
    /// The address dialled (dialer) or nil (an incoming connection).
    let endpoint: PeerEndpoint?
    /// The conversation whose join token this side presented in its hello (a dialer joining).
    var presentedJoin: ConversationID?
    var peer: SessionPeer?
    var establishedAt: Duration?
    /// What this peer has sent that the node has not handled yet (back-pressure).
    let window: InboundWindow
    var machines: [ConversationID: ReplicationStateMachine] = [:]
    var timers: [ConversationID: Task<Void, Never>] = [:]
}

/// How a session ended, for the redial loop.
struct SessionEnding: Sendable {
    /// How long it was established (nil: never).
    var length: Duration?
    /// The session asked to stay away from the peer this long (it misbehaved).
    var backOff: Duration?
}

extension Node {
    // MARK: - Listening and dialing

    func startListening(on endpoint: PeerEndpoint) async throws {
        let accepted = AcceptedConnections()
        let server = try await PeerConnection.listen(host: endpoint.host, port: endpoint.port, accepted: accepted)
        listeningOn = PeerEndpoint(host: endpoint.host, port: server.channel.localAddress?.port ?? endpoint.port)
        let channel = server.channel
        listenerChannel = channel
        listenerTask = Task { [weak self] in
            await withTaskCancellationHandler {
                try? await server.executeThenClose { connections in
                    for try await connection in connections {
                        accepted.take(connection)
                        guard let self else {
                            await Self.refuse(connection)
                            return
                        }
                        await self.accept(connection)
                    }
                }
                // Accepted as the listener closed, never delivered: closed here, not dropped.
                await accepted.closeRemaining()
            } onCancel: {
                channel.close(promise: nil)
            }
        }
    }

    /// Serves an incoming connection in its own task (awaited by ``stop()``).
    private func accept(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        let host = connection.channel.remoteAddress?.ipAddress
        if let host, bannedHosts.isRefused(host, at: now) {
            counters.refusedBanned += 1
            Task { await Self.refuse(connection) }
            return
        }
        guard !isStopped, !isOffline else {
            Task { await Self.refuse(connection) }
            return
        }
        guard incoming.count < configuration.maxIncomingConnections else {
            counters.refusedFull += 1
            Task { await Self.refuse(connection) }
            return
        }
        let id = nextIncomingID
        nextIncomingID += 1
        incoming[id] = Task {
            await self.serve(connection, role: .listener)
            self.incomingEnded(id)
        }
    }

    private func incomingEnded(_ id: Int) { incoming[id] = nil }

    /// Closes a connection this node will not serve. An `NIOAsyncChannel` must be closed
    /// through `executeThenClose` (dropping it unused traps in NIO).
    static func refuse(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await connection.executeThenClose { _, _ in }
    }

    /// Keeps a session with `endpoint`: dials, serves, and redials with exponential back-off and
    /// jitter whenever the connection fails or drops, until the node stops.
    public func connect(to endpoint: PeerEndpoint) {
        guard dialers[endpoint] == nil, !isStopped, endpoint != listeningOn else { return }
        var backoff = ReconnectBackoff(initial: configuration.reconnectInitial, maximum: configuration.reconnectMaximum,
                                       seed: random.next())
        let clock = configuration.clock
        dialers[endpoint] = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                var delay: Duration
                if await self.isOffline {
                    delay = .milliseconds(50)
                } else if await self.isAlreadyConnected(to: endpoint) {
                    delay = .milliseconds(500)
                } else {
                    do {
                        let channel = try await PeerConnection.connect(host: endpoint.host, port: endpoint.port)
                        let ending = await self.serve(channel, role: .dialer(endpoint))
                        delay = backoff.failed(sessionLength: ending.length)
                        if let stayAway = ending.backOff { delay = max(delay, stayAway) }
                    } catch {
                        await self.countDialFailure()
                        delay = backoff.failed()
                    }
                }
                do { try await clock.sleep(for: delay) } catch { return }
            }
        }
    }

    /// Dials `endpoint`, or — when a session with it already runs — closes that session so the
    /// redial offers the conversations this node holds now (a session's set is fixed at its
    /// handshake).
    /// A dialer waiting out a back-off (no session) is started again at once.
    func connectOrRefresh(_ endpoint: PeerEndpoint) {
        guard dialers[endpoint] != nil else { return connect(to: endpoint) }
        let sessions = links.values.filter { $0.endpoint == endpoint }
        guard !sessions.isEmpty else {
            dialers.removeValue(forKey: endpoint)?.cancel()
            return connect(to: endpoint)
        }
        for link in sessions { link.commands.yield(.close(.goingAway)) }
    }

    /// Closes every session now, as a dropped network would; the node redials the peers it
    /// dials (with back-off) and keeps listening. For tests and benchmarks of recovery.
    public func dropSessions() {
        for link in links.values { link.commands.yield(.close(.goingAway)) }
    }

    /// Cuts this node off the network (as a laptop closing its lid would): closes every session
    /// and stops dialing and accepting until ``goOnline()``. Writes keep working locally.
    public func goOffline() {
        isOffline = true
        dropSessions()
    }

    /// Reconnects after ``goOffline()``: the peers this node dials are dialled again at once.
    public func goOnline() {
        isOffline = false
    }

    /// The peers this node keeps dialing.
    public var dialedPeers: [PeerEndpoint] { dialers.keys.sorted() }

    /// True when a session with the peer known to listen at `endpoint` already runs (either
    /// side dialled) and carries every conversation this node is still joining through that
    /// address, so dialing again would only make a duplicate. (A join needs a session dialled
    /// with its token, even when the peer dialled this node for other conversations.)
    func isAlreadyConnected(to endpoint: PeerEndpoint) -> Bool {
        guard let key = knownAddresses.first(where: { $0.value == endpoint })?.key else { return false }
        let sessions = links.values.filter { $0.peer?.key.replicaID == key }
        guard !sessions.isEmpty else { return false }
        let carried = Set(sessions.flatMap { $0.peer?.conversations ?? [] })
        return pendingJoins.allSatisfy { $0.value.recorded || !$0.value.targets.contains(endpoint) || carried.contains($0.key) }
    }

    func countDialFailure() { counters.dialFailures += 1 }

    /// Which side of a connection this node plays, and for a dialer, the address it dialled.
    enum ConnectionRole {
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

    // MARK: - One session

    /// Runs one connection to its end: the session over ``PeerConnection``, its events handled
    /// one at a time on this actor.
    @discardableResult
    func serve(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, role: ConnectionRole) async -> SessionEnding {
        // Stopping (or offline) since this connection was accepted or dialled: close it at once
        // rather than run a handshake nobody will close.
        guard !isStopped, !isOffline else {
            await Self.refuse(channel)
            return SessionEnding()
        }
        let id = nextLinkID
        nextLinkID += 1
        let sessionRole = role.sessionRole
        // Read while the connection is open (a closed channel no longer knows its peer).
        let remoteHost = channel.channel.remoteAddress?.ipAddress
        var session = configuration.session
        session.conversations = replicas.keys.sorted()
        // Conversations this node joins or follows and knows nothing of yet.
        let joining = Set(pendingJoins.keys).union(replicas.keys.filter { directory.knowsNoMembers(of: $0) })
        // A hello carries one token: the join not yet recorded comes first (it cannot sync
        // without it); a recorded one only until a member has reported holding it.
        let presented = pendingJoins.values.sorted { !$0.recorded && $1.recorded }.first
        session.inviteToken = sessionRole == .dialer ? presented?.token : nil
        let base = directory.admission(now: configuration.wallClock)
        // A joiner admits the peer it dialled for the conversation it joins: it holds nothing of
        // it yet to leak, and everything it receives is signed and checked.
        let admission: AdmissionPolicy = { request in
            let joined = sessionRole == .dialer ? request.conversations.filter { joining.contains($0) } : []
            switch base(request) {
            case .admit(let conversations): return .admit(conversations: Array(Set(conversations + joined)).sorted())
            case .refuse(let code): return joined.isEmpty ? .refuse(code) : .admit(conversations: joined)
            case .resolved(let sealed): return .resolved(sealedTokens: sealed)
            }
        }
        var randomness = SystemRandomNumberGenerator()
        let machine = SessionStateMachine(role: sessionRole, identity: identity, configuration: session,
                                          admission: admission, randomness: &randomness)
        let (events, eventSink) = AsyncStream<PeerEvent>.makeStream()
        // What this peer may have read and not yet handled (see InboundWindow): with the session's
        // frame limit, the bound of its memory here.
        let window = InboundWindow(limit: configuration.inboundWindowBytes)
        let (commands, commandSink) = AsyncStream<PeerCommand>.makeStream()
        links[id] = Link(id: id, role: sessionRole, commands: commandSink, endpoint: role.endpoint,
                         presentedJoin: session.inviteToken == nil ? nil : presented?.grant.conversation, window: window)
        let clock = configuration.clock
        async let running: Void = PeerConnection.run(channel, session: machine, outgoing: commands, events: eventSink,
                                                     clock: clock, window: window)
        var ending = SessionEnding()
        // Signature checks of a large frame start as it is read, ahead of the frames still
        // being handled (bounded by the inbound window, which is released only once handled).
        let (staged, stagedSink) = AsyncStream<(PeerEvent, PreparedBatches?)>.makeStream()
        let limits = WireLimits.default
        let staging = Task.detached {
            for await event in events {
                var prepared: PreparedBatches?
                if case .received(let frame, _) = event { prepared = PreparedBatches.start(for: frame, limits: limits) }
                stagedSink.yield((event, prepared))
            }
            stagedSink.finish()
        }
        defer { staging.cancel() }
        for await (event, prepared) in staged {
            switch event {
            case .established(let peer): await established(peer, link: id)
            case .received(let frame, let charge):
                await received(frame, link: id, prepared: prepared)
                window.release(charge)
            case .backOff(let duration): ending.backOff = duration
            case .codeResolved: break // only a code lookup asks for one (Node.resolveInviteCode)
            case .closed(let reason):
                if let reason { counters.closeReasons[reason.code, default: 0] += 1 }
                if sessionRole == .dialer { noteJoinRefusal(reason, presented: presented, endpoint: role.endpoint) }
            }
        }
        await running
        if let establishedAt = links[id]?.establishedAt { ending.length = now - establishedAt }
        if sessionRole == .listener, let stayAway = ending.backOff, let host = remoteHost {
            // An incoming peer that flooded or sent garbage: its host is refused for a while
            // only after repeated offences (honest nodes may share the address).
            _ = bannedHosts.noteOffence(by: host, at: now, stayAway: stayAway)
        }
        counters.inboundPeakBytes = max(counters.inboundPeakBytes, window.peak)
        closeLink(id)
        return ending
    }

    private func established(_ agreed: SessionPeer, link id: Int) async {
        guard var link = links[id] else { return }
        let peerID = agreed.key.replicaID
        // Revocation sticks whichever side dialled (see MembershipDirectory.conversationsToSync).
        var peer = agreed
        peer.conversations = directory.conversationsToSync(with: peerID, agreed: agreed.conversations)
        if peer.conversations.isEmpty, !agreed.conversations.isEmpty {
            counters.revokedDisconnects += 1
            link.commands.yield(.close(.revoked))
            stopDialingRemoved(peerID, at: link.endpoint)
            return
        }
        // Two sessions with the same peer (both dialled at once, or a redial before the old one
        // timed out): keep the one the smaller key dialled; if the same side dialled both, the newer.
        // Both sides know both sessions' agreed conversations, so both keep the one that shares
        // more conversations first (it was made after one side gained a conversation).
        for other in links.values where other.id != id && other.peer?.key == peer.key {
            let dialerOfOther = other.role == .dialer ? replicaID : peerID
            let dialerOfThis = link.role == .dialer ? replicaID : peerID
            let shared = (this: peer.conversations.count, other: other.peer?.conversations.count ?? 0)
            if shared.this != shared.other {
                if shared.this > shared.other {
                    other.commands.yield(.close(.goingAway))
                } else {
                    link.commands.yield(.close(.goingAway))
                    return
                }
            } else if dialerOfOther == dialerOfThis || dialerOfThis < dialerOfOther {
                other.commands.yield(.close(.goingAway))
            } else {
                link.commands.yield(.close(.goingAway))
                return
            }
        }
        link.peer = peer
        link.establishedAt = now
        links[id] = link
        if let joining = link.presentedJoin, !peer.conversations.contains(joining), pendingJoins[joining]?.recorded == false {
            // Admitted to other conversations but not to the one joined: the token was refused.
            noteJoinRefusal(.refusedByPeer(.notAMember), presented: pendingJoins[joining], endpoint: link.endpoint)
        }
        counters.sessionsEstablished += 1
        NodeMetrics.sessions.record(links.values.count { $0.peer != nil })
        if let endpoint = link.endpoint {
            knownAddresses[peerID] = endpoint
            rememberAddress(of: peerID, at: endpoint, in: peer.conversations)
        }
        eventSink.yield(.sync(peer: peerID, .connected))
        recordSession(peerID, connected: true, conversations: peer.conversations)
        for conversation in peer.conversations {
            guard let replica = replicas[conversation] else { continue }
            let clock = await replica.clock
            guard links[id] != nil else { return }
            var machine = ReplicationStateMachine(conversation: conversation, configuration: configuration.replication,
                                                  seed: random.next())
            let actions = machine.start(localClock: clock, now: now)
            links[id]?.machines[conversation] = machine
            await perform(actions, link: id, conversation: conversation)
        }
        announceAddresses(link: id, conversations: peer.conversations)
        if link.role == .listener { await admitJoiner(peer, link: id) }
        requestPublicAdmissions(link: id)
        await deliverInvitations(to: peerID)
    }

    private func received(_ frame: DataFrame, link id: Int, prepared: PreparedBatches?) async {
        let conversation: ConversationID
        switch frame {
        case .batches(let target, _), .clock(let target, _), .want(let target, _): conversation = target
        case .ephemeral(let target, let updates):
            receivedEphemeral(updates, in: target, link: id)
            return
        case .peers(let target, let addresses):
            receivedPeers(addresses, in: target, link: id)
            return
        case .admission(let target, let admission):
            await receivedAdmission(admission, in: target, link: id)
            return
        case .invitation(_, let token):
            receivedInvitation(token, link: id)
            return
        case .admissionRefused(let target, let reason):
            noteAdmissionRefused(reason, in: target, link: id)
            return
        }
        // No machine: the conversation was revoked for this peer since; ignore what is in flight.
        guard var machine = links[id]?.machines[conversation] else { return }
        do {
            let actions = try machine.receive(frame, now: now)
            links[id]?.machines[conversation] = machine
            if case .clock = frame {
                acknowledgeJoin(conversation, reported: machine.peerReported, localClock: machine.localClock)
            }
            await perform(actions, link: id, conversation: conversation, prepared: prepared)
        } catch {
            links[id]?.machines[conversation] = machine
            links[id]?.commands.yield(.close(.protocolViolation))
        }
    }

    private func closeLink(_ id: Int) {
        guard let link = links.removeValue(forKey: id) else { return }
        for timer in link.timers.values { timer.cancel() }
        link.commands.finish()
        if let peer = link.peer {
            counters.sessionsClosed += 1
            NodeMetrics.sessions.record(links.values.count { $0.peer != nil })
            eventSink.yield(.sync(peer: peer.key.replicaID, .disconnected))
            recordSession(peer.key.replicaID, connected: false, conversations: peer.conversations)
        }
    }

    // MARK: - Carrying out replication

    /// Carries out a replication machine's actions, feeding the results of loads and ingests
    /// back into it, until nothing is left to do. `prepared`: the signature checks of the frame
    /// these actions answer, when they were started ahead.
    func perform(_ actions: [ReplicationAction], link id: Int, conversation: ConversationID,
                 prepared: PreparedBatches? = nil) async {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .send(let frame):
                links[id]?.commands.yield(.send(frame))
            case .scheduleTimer(let delay):
                armTimer(link: id, conversation: conversation, after: delay)
            case .loadStoredBatches(let above, let limit):
                guard let replica = replicas[conversation] else { continue }
                let batches: [AuthenticatedBatch]
                do {
                    batches = try await replica.storedBatches(above: above, limit: limit)
                } catch {
                    eventSink.yield(.error(code: error.code, message: "catch-up read failed: \(error)"))
                    batches = []
                }
                guard var machine = links[id]?.machines[conversation] else { return }
                queue += machine.storedBatchesLoaded(batches, now: now)
                links[id]?.machines[conversation] = machine
            case .ingest(let bytes):
                guard let replica = replicas[conversation] else { continue }
                let outcome: IngestOutcome
                do {
                    outcome = try await replica.receive(bytes, prepared: prepared?.batches == bytes ? prepared : nil)
                } catch {
                    counters.ingestFailures += 1
                    eventSink.yield(.error(code: error.code, message: "could not store a peer's batches: \(error)"))
                    continue
                }
                if var machine = links[id]?.machines[conversation] {
                    machine.peerHolds(outcome.authentic)
                    links[id]?.machines[conversation] = machine
                }
                if !outcome.wanted.isEmpty, var machine = links[id]?.machines[conversation] {
                    // The sender stored what it sent, so it holds what that names.
                    queue += machine.want(outcome.wanted)
                    links[id]?.machines[conversation] = machine
                }
                await committed(outcome.accepted, clockAfter: outcome.clockAfter, in: conversation)
                await relayEvidence(outcome.evidence, in: conversation)
            case .sendWanted(let dependencies):
                guard let replica = replicas[conversation] else { continue }
                let found = await replica.batches(wanted: dependencies)
                var frame: [[UInt8]] = []
                var bytes = 0
                for batch in found {
                    if !frame.isEmpty, bytes + batch.count > ReplicationConfiguration().maxFrameBatchBytes {
                        links[id]?.commands.yield(.send(.batches(conversation: conversation, batches: frame)))
                        (frame, bytes) = ([], 0)
                    }
                    frame.append(batch)
                    bytes += batch.count
                }
                if !frame.isEmpty { links[id]?.commands.yield(.send(.batches(conversation: conversation, batches: frame))) }
            }
        }
    }

    /// Sends batches that reveal a fork to every session of the conversation.
    func relayEvidence(_ batches: [AuthenticatedBatch], in conversation: ConversationID) async {
        guard !batches.isEmpty else { return }
        for id in links.keys.sorted() {
            guard var machine = links[id]?.machines[conversation] else { continue }
            let actions = machine.pushEvidence(batches)
            links[id]?.machines[conversation] = machine
            await perform(actions, link: id, conversation: conversation)
        }
    }

    /// After batches were stored and applied: push them to every session of the conversation
    /// (each machine skips what its peer holds), disconnect peers the batches revoked, and finish
    /// a join whose history has arrived.
    func committed(_ batches: [AuthenticatedBatch], clockAfter: VectorClock, in conversation: ConversationID) async {
        guard !batches.isEmpty else { return }
        for id in links.keys.sorted() {
            guard var machine = links[id]?.machines[conversation] else { continue }
            let actions = machine.pushNew(batches: batches, clockAfter: clockAfter, now: now)
            links[id]?.machines[conversation] = machine
            counters.batchesPushed += actions.reduce(0) {
                if case .send(.batches(_, let sent)) = $1 { $0 + sent.count } else { $0 }
            }
            await perform(actions, link: id, conversation: conversation)
        }
        // Membership changes only with governance operations: messages and edits skip this.
        guard batches.contains(where: \.changesGovernance) else { return }
        disconnectRevokedPeers(of: conversation)
        dialKnownMembers(of: conversation)
        await completeJoinIfReady(conversation)
    }

    private func armTimer(link id: Int, conversation: ConversationID, after delay: Duration) {
        guard links[id] != nil else { return }
        links[id]?.timers[conversation]?.cancel()
        let clock = configuration.clock
        links[id]?.timers[conversation] = Task { [weak self] in
            do { try await clock.sleep(for: delay) } catch { return }
            await self?.replicationTimerFired(link: id, conversation: conversation)
        }
    }

    private func replicationTimerFired(link id: Int, conversation: ConversationID) async {
        guard var machine = links[id]?.machines[conversation] else { return }
        let actions = machine.timerFired(now: now)
        links[id]?.machines[conversation] = machine
        await perform(actions, link: id, conversation: conversation)
    }

    /// Stops replicating `conversation` with peers removed from it, closes their sessions (with
    /// `revoked`) when nothing else is shared with them, and stops redialing them.
    func disconnectRevokedPeers(of conversation: ConversationID) {
        for (replica, endpoint) in knownAddresses where directory.isRevoked(replica, from: conversation) {
            stopDialingRemoved(replica, at: endpoint)
        }
        for (id, link) in links {
            guard let peer = link.peer, link.machines[conversation] != nil,
                  directory.isRevoked(peer.key.replicaID, from: conversation) else { continue }
            links[id]?.machines[conversation]?.stop()
            links[id]?.machines[conversation] = nil
            links[id]?.timers.removeValue(forKey: conversation)?.cancel()
            if links[id]?.machines.isEmpty == true {
                counters.revokedDisconnects += 1
                link.commands.yield(.close(.revoked))
                stopDialingRemoved(peer.key.replicaID, at: link.endpoint)
            }
        }
    }

    /// Stops redialing `endpoint` when `peer` is a member of nothing this node holds (it was
    /// removed): its sessions would only be closed again.
    func stopDialingRemoved(_ peer: ReplicaID, at endpoint: PeerEndpoint?) {
        guard let endpoint, !configuration.peers.contains(endpoint),
              !directory.conversations.contains(where: { directory.isMember(peer, of: $0) }) else { return }
        dialers.removeValue(forKey: endpoint)?.cancel()
    }
}
