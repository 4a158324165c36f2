import ChatCore
import ChatSync
import ChatWire

/// Ephemeral state (presence, typing, cursors): this node's own updates, paced to the rate
/// receivers accept, and peers' updates applied, relayed once and reported.
extension NodeMachine {
    /// This node publishes `payload` in `conversation` at wall time `wallNow` (ms). Members only.
    ///
    /// Presence and heartbeats keep to the rate receivers accept (``EphemeralControlPacer``):
    /// over it, the newest presence is held and sent once the budget allows (a heartbeat does
    /// not replace a held presence), since a receiver would drop it as `rate_limited` and keep
    /// showing the previous status. A goodbye drops what is held.
    mutating func onPublish(_ payload: EphemeralPayload, in conversation: ConversationID, wallNow: UInt64,
                            membership: MembershipDirectory) throws(NodeCommandError) -> [NodeDirective] {
        guard membership.permission(of: replicaID, in: conversation) != nil else {
            throw .notPermitted("only members share presence, typing and cursors (you are not a member)")
        }
        if case .presence(let presence) = payload {
            // Checked before it may be held: a held presence is signed later, with nobody to tell.
            for (field, text) in [("custom status", presence.customStatus), ("status emoji", presence.statusEmoji)]
            where (text?.utf8.count ?? 0) > SignedEphemeral.maxStringBytes {
                throw .invalidArgument("ephemeral update: the \(field) is over \(SignedEphemeral.maxStringBytes) bytes")
            }
        }
        switch payload.kind {
        case .presence, .heartbeat:
            guard let now = controlPacers[conversation, default: EphemeralControlPacer()].offer(payload, now: wallNow) else {
                return armPresenceTimer(conversation, wallNow: wallNow)
            }
            return [update(now, in: conversation, wallNow: wallNow)]
        case .goodbye:
            controlPacers[conversation]?.dropHeld()
            return [update(payload, in: conversation, wallNow: wallNow)]
        case .typing, .cursor:
            return [update(payload, in: conversation, wallNow: wallNow)]
        }
    }

    /// The pacing timer of `conversation` fired: send the held presence when the budget allows
    /// (and this node is still a member), else wait again.
    mutating func onPresenceTimer(_ conversation: ConversationID, wallNow: UInt64, membership: MembershipDirectory) -> [NodeDirective] {
        presenceTimersArmed.remove(conversation)
        guard controlPacers[conversation]?.held != nil else { return [] }
        guard let payload = controlPacers[conversation]?.releaseHeld(now: wallNow) else {
            return armPresenceTimer(conversation, wallNow: wallNow)
        }
        guard membership.permission(of: replicaID, in: conversation) != nil else { return [] }
        return [update(payload, in: conversation, wallNow: wallNow)]
    }

    private mutating func armPresenceTimer(_ conversation: ConversationID, wallNow: UInt64) -> [NodeDirective] {
        guard !presenceTimersArmed.contains(conversation), !isStopped else { return [] }
        presenceTimersArmed.insert(conversation)
        let due = (controlPacers[conversation] ?? EphemeralControlPacer()).earliestSend(now: wallNow)
        return [.armTimer(.presence(conversation), after: .milliseconds(Int64(clamping: due - wallNow)))]
    }

    private mutating func update(_ payload: EphemeralPayload, in conversation: ConversationID, wallNow: UInt64) -> NodeDirective {
        .signEphemeral(EphemeralUpdate(conversation: conversation, origin: replicaID, counter: ephemeralCounter.next(now: wallNow),
                                       sentAt: wallNow, payload: payload))
    }

    /// The shell signed this node's update: keep it as the newest state and send it to every
    /// session of the conversation.
    mutating func onEphemeralSigned(_ bytes: [UInt8], in conversation: ConversationID, wallNow: UInt64) -> [NodeDirective] {
        _ = gossips[conversation, default: EphemeralGossip(conversation: conversation)]
            .receive(bytes, from: nil, isMember: { _ in true }, now: .milliseconds(Int64(clamping: wallNow)))
        return relay([bytes], in: conversation, except: nil)
    }

    /// Updates the peer on `link` gossiped: apply and relay the fresh ones (from members, signed,
    /// in order, within the rate), report them, and count the rest as drops. Ignored from a
    /// session that does not replicate the conversation.
    /// - Complexity: O(u + s) for u updates and s sessions.
    mutating func onEphemeralReceived(_ updates: [[UInt8]], in conversation: ConversationID, link id: Int, wallNow: UInt64,
                                      membership: MembershipDirectory) -> [NodeDirective] {
        guard let peer = sessions[id]?.peerID, replicates(conversation, link: id) else { return [] }
        var gossip = gossips[conversation] ?? EphemeralGossip(conversation: conversation)
        let now = Duration.milliseconds(Int64(clamping: wallNow))
        var fresh: [[UInt8]] = []
        var directives: [NodeDirective] = []
        for bytes in updates {
            let verdict = gossip.receive(bytes, from: peer, isMember: { membership.isMember($0, of: conversation) }, now: now)
            if case .fresh(let signed) = verdict {
                fresh.append(bytes)
                directives.append(.emit(.ephemeral(conversation, signed.update)))
            }
        }
        gossips[conversation] = gossip
        return directives + relay(fresh, in: conversation, except: id)
    }

    private func relay(_ updates: [[UInt8]], in conversation: ConversationID, except: Int?) -> [NodeDirective] {
        guard !updates.isEmpty else { return [] }
        return links(replicating: conversation).filter { $0 != except }
            .map { .send(.ephemeral(conversation: conversation, updates: updates), link: $0) }
    }
}
