import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire

extension Node {
    // MARK: - Ephemeral gossip (typing, cursors, presence)

    /// Signs an ephemeral update of this node (typing, cursor, presence) and gossips it to every
    /// session of the conversation. Members only.
    ///
    /// Presence and heartbeats keep to the rate receivers accept (``EphemeralControlPacer``): over
    /// it, the newest presence is held and sent once the budget allows (a heartbeat does not
    /// replace a held presence), since a receiver would drop it as `rate_limited` and keep showing
    /// the previous status.
    public func publish(_ payload: EphemeralPayload, in conversation: ConversationID) throws(NodeCommandError) {
        try requirePermission(in: conversation, { _ in true }, "only members share presence, typing and cursors")
        switch payload.kind {
        case .presence, .heartbeat:
            guard let now = controlPacers[conversation, default: EphemeralControlPacer()]
                .offer(payload, now: configuration.wallClock())
            else {
                armControlTimer(conversation)
                return
            }
            try send(now, in: conversation)
        case .goodbye:
            controlPacers[conversation]?.dropHeld()
            try send(payload, in: conversation)
        case .typing, .cursor:
            try send(payload, in: conversation)
        }
    }

    private func armControlTimer(_ conversation: ConversationID) {
        guard controlTimers[conversation] == nil, !isStopped else { return }
        let wall = configuration.wallClock()
        let due = (controlPacers[conversation] ?? EphemeralControlPacer()).earliestSend(now: wall)
        let clock = configuration.clock
        controlTimers[conversation] = Task { [weak self] in
            do { try await clock.sleep(for: .milliseconds(Int64(clamping: due - wall))) } catch { return }
            await self?.sendHeldControl(conversation)
        }
    }

    private func sendHeldControl(_ conversation: ConversationID) {
        controlTimers[conversation] = nil
        guard controlPacers[conversation]?.held != nil else { return }
        guard let payload = controlPacers[conversation]?.releaseHeld(now: configuration.wallClock()) else {
            armControlTimer(conversation)
            return
        }
        guard (try? requirePermission(in: conversation, { _ in true }, "")) != nil else { return }
        try? send(payload, in: conversation)
    }

    private func send(_ payload: EphemeralPayload, in conversation: ConversationID) throws(NodeCommandError) {
        let wall = configuration.wallClock()
        let update = EphemeralUpdate(conversation: conversation, origin: replicaID, counter: ephemeralCounter.next(now: wall),
                                     sentAt: wall, payload: payload)
        let key = identity
        let signed: SignedEphemeral
        do {
            signed = try SignedEphemeral(update: update) { key.sign($0).bytes }
        } catch {
            throw .invalidArgument("ephemeral update: \(error)")
        }
        var gossip = gossips[conversation] ?? EphemeralGossip(conversation: conversation)
        _ = gossip.receive(signed.bytes, from: nil, isMember: { _ in true }, now: .milliseconds(Int64(clamping: wall)))
        gossips[conversation] = gossip
        relay([signed.bytes], in: conversation, except: nil)
    }

    /// The newest ephemeral state of every member (presence, typing, cursors) this node holds.
    public func ephemeralState(of conversation: ConversationID) -> EphemeralRegisters? {
        gossips[conversation]?.registers
    }

    /// Updates a peer gossiped: apply and relay the fresh ones, count the rest as drops.
    func receivedEphemeral(_ updates: [[UInt8]], in conversation: ConversationID, link id: Int) {
        guard let peer = machine.sessions[id]?.peerID, machine.replicates(conversation, link: id) else { return }
        var gossip = gossips[conversation] ?? EphemeralGossip(conversation: conversation)
        let directory = self.directory
        let now = Duration.milliseconds(Int64(clamping: configuration.wallClock()))
        var fresh: [[UInt8]] = []
        for bytes in updates {
            let verdict = gossip.receive(bytes, from: peer, isMember: { directory.isMember($0, of: conversation) }, now: now)
            if case .fresh(let signed) = verdict {
                fresh.append(bytes)
                eventSink.yield(.ephemeral(conversation, signed.update))
            }
        }
        gossips[conversation] = gossip
        relay(fresh, in: conversation, except: id)
    }

    private func relay(_ updates: [[UInt8]], in conversation: ConversationID, except: Int?) {
        guard !updates.isEmpty else { return }
        for id in machine.links(replicating: conversation) where id != except {
            channels[id]?.commands.yield(.send(.ephemeral(conversation: conversation, updates: updates)))
        }
    }
}

extension Node {
    /// Remembers durably where `replica` listens, for each of `conversations`, so that this node
    /// dials it again after a restart.
    func rememberAddress(of replica: ReplicaID, at endpoint: PeerEndpoint, in conversations: [ConversationID]) {
        guard let port = UInt16(exactly: endpoint.port) else { return }
        let address = RememberedAddress(replica: replica, host: endpoint.host, port: port)
        for conversation in conversations {
            do {
                try store.rememberAddresses([address], in: conversation)
            } catch {
                eventSink.yield(.error(code: "store", message: "could not remember the address of a member: \(error)"))
            }
        }
    }
}
