import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import NIOCore

extension Node {
    // MARK: - Listening and dialing

    func startListening(on endpoint: PeerEndpoint) async throws {
        let listener = try await PeerListener.start(on: endpoint) { [weak self] connection in
            guard let self else { return await PeerConnection.refuse(connection) }
            await self.serveIncoming(connection)
        }
        self.listener = listener
        machine.onListening(at: listener.endpoint, advertised: configuration.advertised)
    }

    /// Serves an incoming connection when the machine accepts it.
    private func serveIncoming(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let host = connection.channel.remoteAddress?.ipAddress
        guard machine.onIncomingConnection(from: host, serving: servingIncoming, now: now) else {
            return await PeerConnection.refuse(connection)
        }
        servingIncoming += 1
        defer { servingIncoming -= 1 }
        await serve(connection, role: .listener)
    }

    /// Keeps a session with `endpoint`: dials, serves, and redials with exponential back-off and
    /// jitter whenever the connection fails or drops, until the node stops.
    public func connect(to endpoint: PeerEndpoint) async {
        await carryOut(machine.dial(endpoint))
    }

    /// Starts the redial loop of `endpoint` (see ``PeerDialer``), replacing any before.
    private func startDialer(_ endpoint: PeerEndpoint, seed: UInt64) {
        dialers[endpoint]?.cancel()
        dialers[endpoint] = PeerDialer.start(
            endpoint, backoff: ReconnectBackoff(initial: configuration.reconnectInitial, maximum: configuration.reconnectMaximum,
                                                seed: seed),
            clock: configuration.clock, node: self)
    }

    /// How long the redial loop of `endpoint` waits instead of dialing now (nil: dial).
    func redialDelay(for endpoint: PeerEndpoint) -> Duration? { machine.redialDelay(for: endpoint) }

    /// A dial of the redial loop did not connect.
    func dialFailed() { machine.onDialFailed() }

    /// Closes every session now, as a dropped network would; the node redials the peers it
    /// dials (with back-off) and keeps listening. For tests and benchmarks of recovery.
    public func dropSessions() async {
        await carryOut(machine.dropSessions())
    }

    /// Cuts this node off the network (as a laptop closing its lid would): closes every session
    /// and stops dialing and accepting until ``goOnline()``. Writes keep working locally.
    public func goOffline() async {
        await carryOut(machine.goOffline())
    }

    /// Reconnects after ``goOffline()``: the peers this node dials are dialled again at once.
    public func goOnline() {
        machine.goOnline()
    }

    /// Cut off from the network on purpose (``goOffline()``).
    public var isOffline: Bool { machine.isOffline }

    /// The peers this node keeps dialing.
    public var dialedPeers: [PeerEndpoint] { machine.dialing.sorted() }

    // MARK: - Carrying out the machine's directives

    /// Carries out the machine's directives in order. Only ``NodeDirective/replicate(link:conversations:)``
    /// suspends (it reads replicas' clocks), and what it does after is decided by the machine again.
    func carryOut(_ directives: [NodeDirective]) async {
        for directive in directives {
            switch directive {
            case .send(let frame, let link):
                channels[link]?.commands.yield(.send(frame))
            case .close(let link, let reason):
                channels[link]?.commands.yield(.close(reason))
            case .dial(let endpoint, let seed):
                startDialer(endpoint, seed: seed)
            case .stopDialing(let endpoint):
                dialers.removeValue(forKey: endpoint)?.cancel()
            case .replicate(let link, let conversations):
                for conversation in conversations {
                    guard let replica = replicas[conversation] else { continue }
                    let clock = await replica.clock
                    guard let actions = machine.startReplication(link: link, conversation: conversation, localClock: clock,
                                                                  now: now, membership: directory) else { continue }
                    await perform(actions, link: link, conversation: conversation)
                }
            case .cancelTimer(let link, let conversation):
                channels[link]?.timers.removeValue(forKey: conversation)?.cancel()
            case .rememberAddress(let replica, let endpoint, let conversations):
                rememberAddress(of: replica, at: endpoint, in: conversations)
            case .emit(let event):
                eventSink.yield(event)
            case .recordSession(let peer, let connected, let conversations):
                recordSession(peer, connected: connected, conversations: conversations)
            case .sessionsOpen(let count):
                NodeMetrics.sessions.record(count)
            case .welcome(let link):
                await welcome(link: link)
            case .signAdmission(let content, let link):
                await signAdmission(content, link: link)
            case .signEphemeral(let update):
                try? await gossip(update) // a held presence: its fields were checked when published
            case .armControlTimer(let conversation, let delay):
                armControlTimer(conversation, after: delay)
            case .savePendingJoin(let conversation):
                savePendingJoin(conversation)
            case .completeJoin(let conversation):
                await completeJoinIfReady(conversation)
            }
        }
    }

    // MARK: - One session

    /// Runs one connection to its end: the session over ``PeerConnection``, its events handled
    /// one at a time on this actor.
    @discardableResult
    func serve(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, role: ConnectionRole) async -> SessionEnding {
        // Stopping (or offline) since this connection was accepted or dialled: close it at once
        // rather than run a handshake nobody will close.
        guard let plan = machine.openSession(role: role, held: replicas.keys.sorted(), membership: directory) else {
            await PeerConnection.refuse(channel)
            return SessionEnding()
        }
        let id = plan.link
        // Read while the connection is open (a closed channel no longer knows its peer).
        let remoteHost = channel.channel.remoteAddress?.ipAddress
        var session = configuration.session
        session.conversations = replicas.keys.sorted()
        session.inviteToken = plan.inviteToken
        let admission = NodeMachine.admission(directory.admission(now: configuration.wallClock), role: role.sessionRole,
                                              joining: plan.joining)
        var randomness = SystemRandomNumberGenerator()
        let handshake = SessionStateMachine(role: role.sessionRole, identity: identity, configuration: session,
                                            admission: admission, randomness: &randomness)
        let (events, eventSink) = AsyncStream<PeerEvent>.makeStream()
        // What this peer may have read and not yet handled (see InboundWindow): with the session's
        // frame limit, the bound of its memory here.
        let window = InboundWindow(limit: configuration.inboundWindowBytes)
        let (commands, commandSink) = AsyncStream<PeerCommand>.makeStream()
        channels[id] = SessionChannel(commands: commandSink, window: window)
        let clock = configuration.clock
        async let running: Void = PeerConnection.run(channel, session: handshake, outgoing: commands, events: eventSink,
                                                     clock: clock, window: window)
        var backOff: Duration?
        for await (event, prepared) in PreparedBatches.staged(events, limits: .default) {
            switch event {
            case .established(let peer):
                await carryOut(machine.onSessionEstablished(link: id, agreed: peer, now: now, membership: directory))
            case .received(let frame, let charge):
                await received(frame, link: id, prepared: prepared)
                window.release(charge)
            case .backOff(let duration): backOff = duration
            case .codeResolved: break // only a code lookup asks for one (NodeCommands.resolveInviteCode)
            case .closed(let reason): machine.onSessionClosing(link: id, reason: reason)
            }
        }
        await running
        let (ending, directives) = machine.onSessionClosed(link: id, backOff: backOff, host: remoteHost,
                                                           inboundPeak: window.peak, now: now)
        await carryOut(directives)
        if let closed = channels.removeValue(forKey: id) {
            for timer in closed.timers.values { timer.cancel() }
            closed.commands.finish()
        }
        return ending
    }

    private func received(_ frame: DataFrame, link id: Int, prepared: PreparedBatches?) async {
        let conversation: ConversationID
        switch frame {
        case .batches(let target, _), .clock(let target, _), .want(let target, _): conversation = target
        case .ephemeral(let target, let updates):
            await carryOut(machine.onEphemeralReceived(updates, in: target, link: id, wallNow: configuration.wallClock(),
                                                       membership: directory))
            return
        case .peers(let target, let addresses):
            await carryOut(machine.onPeersReceived(addresses, in: target, link: id, membership: directory))
            return
        case .admission(let target, let admission):
            await receivedAdmission(admission, in: target, link: id)
            return
        case .invitation(_, let token):
            await carryOut(machine.onInvitationReceived(token, link: id, wallNow: configuration.wallClock()))
            return
        case .admissionRefused(let target, let reason):
            machine.onAdmissionRefused(reason, in: target, link: id)
            return
        }
        // No machine: the conversation was revoked for this peer since; ignore what is in flight.
        let now = now
        let actions: [ReplicationAction]?
        do {
            actions = try machine.replicate(link: id, conversation) { try $0.receive(frame, now: now) }
        } catch {
            channels[id]?.commands.yield(.close(.protocolViolation))
            return
        }
        guard let actions else { return }
        if case .clock = frame, let replication = machine.sessions[id]?.replication[conversation] {
            acknowledgeJoin(conversation, reported: replication.peerReported, localClock: replication.localClock)
        }
        await perform(actions, link: id, conversation: conversation, prepared: prepared)
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
                channels[id]?.commands.yield(.send(frame))
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
                let now = now
                guard let next = machine.replicate(link: id, conversation, { $0.storedBatchesLoaded(batches, now: now) })
                else { return }
                queue += next
            case .ingest(let bytes):
                guard let replica = replicas[conversation] else { continue }
                let outcome: IngestOutcome
                do {
                    outcome = try await replica.receive(bytes, prepared: prepared?.batches == bytes ? prepared : nil)
                } catch {
                    machine.counters.ingestFailures += 1
                    eventSink.yield(.error(code: error.code, message: "could not store a peer's batches: \(error)"))
                    continue
                }
                // The sender stored what it sent, so it holds what that names.
                queue += machine.replicate(link: id, conversation) { replication in
                    replication.peerHolds(outcome.authentic)
                    return outcome.wanted.isEmpty ? [] : replication.want(outcome.wanted)
                } ?? []
                await committed(outcome.accepted, clockAfter: outcome.clockAfter, in: conversation)
                await relayEvidence(outcome.evidence, in: conversation)
            case .sendWanted(let dependencies):
                guard let replica = replicas[conversation] else { continue }
                let found = await replica.batches(wanted: dependencies)
                queue += machine.replicate(link: id, conversation) { $0.wantedBatchesLoaded(found) } ?? []
            }
        }
    }

    /// Sends batches that reveal a fork to every session of the conversation.
    func relayEvidence(_ batches: [AuthenticatedBatch], in conversation: ConversationID) async {
        guard !batches.isEmpty else { return }
        for id in machine.links(replicating: conversation) {
            guard let actions = machine.replicate(link: id, conversation, { $0.pushEvidence(batches) }) else { continue }
            await perform(actions, link: id, conversation: conversation)
        }
    }

    /// After batches were stored and applied: push them to every session of the conversation
    /// (each machine skips what its peer holds), let the machine act on a membership change
    /// (revoked peers disconnected, new members dialled), and finish a join whose history has
    /// arrived.
    func committed(_ batches: [AuthenticatedBatch], clockAfter: VectorClock, in conversation: ConversationID) async {
        guard !batches.isEmpty else { return }
        let now = now
        for id in machine.links(replicating: conversation) {
            guard let actions = machine.replicate(link: id, conversation, {
                $0.pushNew(batches: batches, clockAfter: clockAfter, now: now)
            }) else { continue }
            machine.counters.batchesPushed += actions.reduce(0) {
                if case .send(.batches(_, let sent)) = $1 { $0 + sent.count } else { $0 }
            }
            await perform(actions, link: id, conversation: conversation)
        }
        // Membership changes only with governance operations: messages and edits skip this.
        guard batches.contains(where: \.changesGovernance) else { return }
        await carryOut(machine.onGovernanceChanged(conversation, membership: directory))
        await completeJoinIfReady(conversation)
    }

    private func armTimer(link id: Int, conversation: ConversationID, after delay: Duration) {
        guard channels[id] != nil else { return }
        channels[id]?.timers[conversation]?.cancel()
        let clock = configuration.clock
        channels[id]?.timers[conversation] = Task { [weak self] in
            do { try await clock.sleep(for: delay) } catch { return }
            await self?.replicationTimerFired(link: id, conversation: conversation)
        }
    }

    private func replicationTimerFired(link id: Int, conversation: ConversationID) async {
        let now = now
        guard let actions = machine.replicate(link: id, conversation, { $0.timerFired(now: now) }) else { return }
        await perform(actions, link: id, conversation: conversation)
    }
}
