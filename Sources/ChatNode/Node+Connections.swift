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

    /// Carries out the machine's directives in order. The reads and writes of replicas suspend,
    /// and what follows them is decided by the machine again, on what was read. `prepared`: the
    /// signature checks of the frame these directives answer, when they were started ahead.
    func carryOut(_ directives: [NodeDirective], prepared: PreparedBatches? = nil) async {
        for directive in directives {
            switch directive {
            case .send(let frame, let link):
                channels[link]?.commands.yield(.send(frame))
            case .close(let link, let reason):
                channels[link]?.commands.yield(.close(reason))
            case .dial(let endpoint, let seed):
                dialers.start(endpoint, seed: seed, configuration: configuration, node: self)
            case .stopDialing(let endpoint):
                dialers.stop(endpoint)
            case .replicate(let link, let conversations):
                for conversation in conversations {
                    guard let replica = replicas[conversation] else { continue }
                    let clock = await replica.clock
                    await carryOut(machine.onClockRead(link: link, conversation, localClock: clock, now: now, membership: directory))
                }
            case .armTimer(let timer, let delay):
                timers.arm(timer, after: delay, on: configuration.clock) { [weak self] in await self?.timerFired(timer) }
            case .cancelTimer(let timer):
                timers.cancel(timer)
            case .loadStoredBatches(let link, let conversation, let above, let limit):
                await loadStoredBatches(link: link, conversation, above: above, limit: limit)
            case .ingest(let bytes, let link, let conversation):
                await ingest(bytes, link: link, conversation, prepared: prepared?.batches == bytes ? prepared : nil)
            case .loadWanted(let dependencies, let link, let conversation):
                guard let replica = replicas[conversation] else { continue }
                let found = await replica.batches(wanted: dependencies)
                await carryOut(machine.onWantedLoaded(found, link: link, conversation))
            case .readPublicAdmissions(let conversation, let link):
                await readPublicAdmissions(conversation, link: link)
            case .rememberAddress(let replica, let endpoint, let conversations):
                notes.rememberAddress(of: replica, at: endpoint, in: conversations)
            case .emit(let event):
                eventSink.yield(event)
            case .recordSession(let peer, let connected, let conversations):
                sessionRecorder.record(peer, at: configuration.wallClock(), connected: connected, conversations: conversations)
            case .sessionsOpen(let count):
                NodeMetrics.sessions.record(count)
            case .welcome(let link):
                await welcome(link: link)
            case .signAdmission(let content, let link):
                await signAdmission(content, link: link)
            case .signEphemeral(let update):
                try? await gossip(update) // a held presence: its fields were checked when published
            case .savePendingJoin(let conversation):
                notes.savePendingJoin(machine.pendingJoins[conversation], of: conversation)
            case .completeJoin(let conversation):
                await completeJoinIfReady(conversation)
            case .abandonJoin(let conversation):
                await abandonJoin(conversation)
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
        let handshake = plan.handshake(role: role, identity: identity, configuration: configuration.session,
                                       held: replicas.keys.sorted(), admission: directory.admission(now: configuration.wallClock))
        let (session, commands) = SessionChannel.open(windowLimit: configuration.inboundWindowBytes)
        channels[id] = session
        let backOff = await session.run(channel, handshake: handshake, commands: commands, clock: configuration.clock) {
            event, prepared in
            switch event {
            case .established(let peer):
                await carryOut(machine.onSessionEstablished(link: id, agreed: peer, now: now, membership: directory))
            case .received(let frame, let charge):
                await carryOut(machine.onFrameReceived(frame, link: id, now: now, wallNow: configuration.wallClock(),
                                                       membership: directory), prepared: prepared)
                session.window.release(charge)
            case .closed(let reason): machine.onSessionClosing(link: id, reason: reason)
            case .backOff, .codeResolved: break // a code is resolved only for a lookup (NodeCommands.resolveInviteCode)
            }
        }
        let (ending, directives) = machine.onSessionClosed(link: id, backOff: backOff, host: remoteHost,
                                                           inboundPeak: session.window.peak, now: now)
        await carryOut(directives)
        channels.removeValue(forKey: id)?.commands.finish()
        return ending
    }

    // MARK: - Replication I/O

    private func loadStoredBatches(link id: Int, _ conversation: ConversationID, above: VectorClock, limit: Int) async {
        guard let replica = replicas[conversation] else { return }
        let batches: [AuthenticatedBatch]
        do {
            batches = try await replica.storedBatches(above: above, limit: limit)
        } catch {
            eventSink.yield(.error(code: error.code, message: "catch-up read failed: \(error)"))
            batches = []
        }
        await carryOut(machine.onStoredBatchesLoaded(batches, link: id, conversation, now: now))
    }

    private func ingest(_ bytes: [[UInt8]], link id: Int, _ conversation: ConversationID, prepared: PreparedBatches?) async {
        guard let replica = replicas[conversation] else { return }
        let outcome: IngestOutcome
        do {
            outcome = try await replica.receive(bytes, prepared: prepared)
        } catch {
            machine.counters.ingestFailures += 1
            eventSink.yield(.error(code: error.code, message: "could not store a peer's batches: \(error)"))
            return
        }
        await carryOut(machine.onIngested(authentic: outcome.authentic, wanted: outcome.wanted, link: id, conversation))
        await carryOut(machine.onCommitted(outcome.accepted, clockAfter: outcome.clockAfter, evidence: outcome.evidence,
                                           in: conversation, now: now, membership: directory))
    }

    private func timerFired(_ timer: NodeTimer) async {
        timers.fired(timer)
        await carryOut(machine.onTimer(timer, now: now, wallNow: configuration.wallClock(), membership: directory))
    }
}
