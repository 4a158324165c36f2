import ChatControl
import ChatCore
import ChatSync
import ChatWire

/// Sessions: accepting connections, the handshake's admission, keeping one session per peer,
/// revocation whichever side dialled, and what a session's end leaves behind.
extension NodeMachine {
    /// An incoming connection from `host` while `serving` incoming connections are served:
    /// true to serve it. Refused (and counted) when its host misbehaved recently or the node is
    /// full; refused when stopped or offline.
    mutating func onIncomingConnection(from host: String?, serving: Int, now: Duration) -> Bool {
        if let host, bannedHosts.isRefused(host, at: now) {
            counters.refusedBanned += 1
            return false
        }
        guard !isStopped, !isOffline else { return false }
        guard serving < configuration.maxIncomingConnections else {
            counters.refusedFull += 1
            return false
        }
        return true
    }

    /// A connection is about to run its handshake: nil to close it at once (stopped or offline),
    /// else its link id and what it presents. `held`: the conversations this node holds.
    ///
    /// A hello carries one token: the join not yet recorded comes first (it cannot sync without
    /// it); a recorded one only until a member has reported holding it.
    mutating func openSession(role: ConnectionRole, held: [ConversationID], membership: MembershipDirectory) -> SessionPlan? {
        guard !isStopped, !isOffline else { return nil }
        let id = nextLinkID
        nextLinkID += 1
        let joining = Set(pendingJoins.keys).union(held.filter { membership.knowsNoMembers(of: $0) })
        let presented = role.sessionRole == .dialer ? pendingJoins.values.sorted { !$0.recorded && $1.recorded }.first : nil
        sessions[id] = SessionState(id: id, role: role.sessionRole, endpoint: role.endpoint,
                                    presentedJoin: presented?.grant.conversation, presented: presented)
        return SessionPlan(link: id, inviteToken: presented?.token, joining: joining)
    }

    /// The admission policy of a session planned by ``openSession(role:held:membership:)``: the
    /// directory's (`base`), and for a dialer, also the conversations it is joining that the peer
    /// offers (a joiner admits the peer it dialled: it holds nothing of them to leak, and
    /// everything it receives is signed and checked).
    static func admission(_ base: @escaping AdmissionPolicy, role: SessionRole, joining: Set<ConversationID>) -> AdmissionPolicy {
        { request in
            let joined = role == .dialer ? request.conversations.filter { joining.contains($0) } : []
            switch base(request) {
            case .admit(let conversations): return .admit(conversations: Array(Set(conversations + joined)).sorted())
            case .refuse(let code): return joined.isEmpty ? .refuse(code) : .admit(conversations: joined)
            case .resolved(let sealed): return .resolved(sealedTokens: sealed)
            }
        }
    }

    /// The handshake of the session on `link` agreed on `agreed`.
    ///
    /// - Revocation sticks whichever side dialled: conversations the peer was removed from are
    ///   not replicated (its node may not know of its removal yet and admit them), and a session
    ///   left with none is closed `revoked`.
    /// - One session per peer: of two (both dialled at once, or a redial before the old one timed
    ///   out), both sides keep the one that shares more conversations (made after one side gained
    ///   one), else the one the smaller key dialled, else (the same side dialled both) the newer.
    /// - Then the peer is connected: its address is remembered, replication starts
    ///   (``NodeDirective/replicate(link:conversations:)``), addresses are announced, and a join
    ///   whose token the peer did not admit is noted as refused.
    mutating func onSessionEstablished(link id: Int, agreed: SessionPeer, now: Duration,
                                       membership: MembershipDirectory) -> [NodeDirective] {
        guard var session = sessions[id] else { return [] }
        let peerID = agreed.key.replicaID
        var peer = agreed
        peer.conversations = membership.conversationsToSync(with: peerID, agreed: agreed.conversations)
        if peer.conversations.isEmpty, !agreed.conversations.isEmpty {
            counters.revokedDisconnects += 1
            return [.close(link: id, .revoked)] + stopDialingRemoved(peerID, at: session.endpoint, membership: membership)
        }
        var directives: [NodeDirective] = []
        for other in sessions.values.sorted(by: { $0.id < $1.id }) where other.id != id && other.peer?.key == peer.key {
            if keepsNewer(session, sharing: peer.conversations.count, over: other) {
                directives.append(.close(link: other.id, .goingAway))
            } else {
                return directives + [.close(link: id, .goingAway)]
            }
        }
        session.peer = peer
        session.establishedAt = now
        sessions[id] = session
        if let joining = session.presentedJoin, !peer.conversations.contains(joining), pendingJoins[joining]?.recorded == false {
            // Admitted to other conversations but not to the one joined: the token was refused.
            noteJoinRefusal(.refusedByPeer(.notAMember), presented: pendingJoins[joining], endpoint: session.endpoint)
        }
        counters.sessionsEstablished += 1
        directives.append(.sessionsOpen(establishedCount))
        if let endpoint = session.endpoint {
            knownAddresses[peerID] = endpoint
            directives.append(.rememberAddress(peerID, endpoint, conversations: peer.conversations))
        }
        directives.append(.emit(.sync(peer: peerID, .connected)))
        directives.append(.recordSession(peerID, connected: true, conversations: peer.conversations))
        directives.append(.replicate(link: id, conversations: peer.conversations))
        directives += announcement(to: id, membership: membership)
        directives += publicAdmissionRequests(link: id)
        directives.append(.welcome(link: id))
        return directives
    }

    /// Whether the new session `session` (sharing `shared` conversations) is kept over `other`
    /// with the same peer. Both sides know both sessions' agreed conversations and who dialled
    /// each, so both decide alike.
    private func keepsNewer(_ session: SessionState, sharing shared: Int, over other: SessionState) -> Bool {
        let otherShared = other.peer?.conversations.count ?? 0
        if shared != otherShared { return shared > otherShared }
        guard let peerID = other.peerID else { return true }
        let dialerOfOther = other.role == .dialer ? replicaID : peerID
        let dialerOfThis = session.role == .dialer ? replicaID : peerID
        return dialerOfOther == dialerOfThis || dialerOfThis < dialerOfOther
    }

    /// The session on `link` says why it is closing.
    mutating func onSessionClosing(link id: Int, reason: SessionCloseReason?) {
        guard let session = sessions[id] else { return }
        if let reason { counters.closeReasons[reason.code, default: 0] += 1 }
        sessions[id]?.closeReason = reason
        if session.role == .dialer { noteJoinRefusal(reason, presented: session.presented, endpoint: session.endpoint) }
    }

    /// The session on `link` ended. `backOff`: how long the session asked to stay away from a
    /// misbehaving peer; an incoming one's `host` is then refused for a while, but only after
    /// repeated offences (honest nodes may share the address). Returns how the session ended
    /// (for the redial loop) and what to carry out.
    mutating func onSessionClosed(link id: Int, backOff: Duration?, host: String?, inboundPeak: Int,
                                  now: Duration) -> (SessionEnding, [NodeDirective]) {
        counters.inboundPeakBytes = max(counters.inboundPeakBytes, inboundPeak)
        guard let session = sessions.removeValue(forKey: id) else { return (SessionEnding(backOff: backOff), []) }
        let ending = SessionEnding(length: session.establishedAt.map { now - $0 }, backOff: backOff)
        if session.role == .listener, let backOff, let host {
            _ = bannedHosts.noteOffence(by: host, at: now, stayAway: backOff)
        }
        var directives = session.replication.keys.sorted().map { NodeDirective.cancelTimer(.replication(link: id, $0)) }
        if let peer = session.peer {
            counters.sessionsClosed += 1
            directives.append(.sessionsOpen(establishedCount))
            directives.append(.emit(.sync(peer: peer.key.replicaID, .disconnected)))
            directives.append(.recordSession(peer.key.replicaID, connected: false, conversations: peer.conversations))
        }
        return (ending, directives)
    }

    /// A session's dial failed before any handshake.
    mutating func onDialFailed() { counters.dialFailures += 1 }

    /// A member refused the session in which this node presented the token of a join not yet
    /// recorded: remember why, so the waiting `join` can say so. A session this node refused for
    /// not sharing the conversation it joins (the peer holds none of it) counts as
    /// `not_a_member` too.
    mutating func noteJoinRefusal(_ reason: SessionCloseReason?, presented: PendingJoin?, endpoint: PeerEndpoint?) {
        let code: RefuseCode
        switch reason {
        case .refusedByPeer(let peerCode): code = peerCode
        case .refused(.notAMember): code = .notAMember
        default: return
        }
        guard let presented, let endpoint, code != .goingAway, code != .timeout,
              let current = pendingJoins[presented.grant.conversation], !current.recorded, current.token == presented.token
        else { return }
        joinRefusals[presented.grant.conversation, default: [:]][endpoint] = code
    }
}
