import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Admission on an invite token, both sides: the member a joiner reaches signs a
/// ``JoinAdmission`` (its own clock, the uses it has seen) and sends it; the joiner keeps it and
/// carries it in its join, so every replica judges expiry and use count on the admitting
/// member's word rather than the joiner's clock.
extension Node {
    /// A non-member was admitted on the token it presented: sign its admission for the token's
    /// conversation and send it. Nothing is signed when the token no longer admits it (expired
    /// or used up since the handshake).
    func admitJoiner(_ peer: SessionPeer, link id: Int) async {
        let joiner = peer.key.replicaID
        guard let token = peer.inviteToken, let grant = ConversationInputs.verifyInvite(token),
              peer.conversations.contains(grant.conversation), let replica = replicas[grant.conversation],
              directory.permission(of: replicaID, in: grant.conversation) != nil,
              directory.permission(of: joiner, in: grant.conversation) == nil
        else { return }
        let admittedAt = configuration.wallClock()
        let conversation = await replica.conversation
        let usesSeen = conversation.acceptedJoins(withToken: grant.tokenID)
        if let expiresAt = grant.expiresAt, admittedAt > expiresAt { return }
        if let limit = grant.useLimit, usesSeen >= Int(limit) { return }
        if let record = conversation.links[grant.tokenID]?.record {
            if let expiresAt = record.expiresAt, admittedAt > expiresAt { return }
            if let limit = record.useLimit, usesSeen >= Int(limit) { return }
        }
        let content = JoinAdmission(conversation: grant.conversation, joiner: joiner, tokenID: grant.tokenID,
                                    admitter: replicaID, admittedAt: admittedAt,
                                    usesSeen: UInt32(clamping: usesSeen))
        let key = identity
        let admission = SignedAdmission(content: content) { key.sign($0).bytes }
        counters.admissionsSigned += 1
        links[id]?.commands.yield(.send(.admission(conversation: grant.conversation, admission: admission.bytes)))
    }

    /// The member this node dialled to join sent its signed admission: keep it (across restarts
    /// too) and record the join once the history it refers to has arrived. An admission that does
    /// not verify, names another joiner or token, or comes from someone other than the peer is
    /// counted and dropped.
    func receivedAdmission(_ bytes: [UInt8], in conversation: ConversationID, link id: Int) async {
        guard let pending = pendingJoins[conversation], !pending.recorded, !pending.declining,
              pending.admission == nil else { return }
        guard let admission = ConversationInputs.verifyAdmission(bytes), admission.conversation == conversation,
              admission.joiner == replicaID, admission.tokenID == pending.grant.tokenID,
              admission.admitter == links[id]?.peer?.key.replicaID
        else {
            counters.admissionsDropped += 1
            return
        }
        pendingJoins[conversation]?.admission = (bytes, admission)
        savePendingJoin(conversation)
        await completeJoinIfReady(conversation)
    }

    /// A member refused the session in which this node presented the token of a join not yet
    /// recorded: remember why, so the waiting `join` can say so.
    func noteJoinRefusal(_ reason: SessionCloseReason?, presented: PendingJoin?, endpoint: PeerEndpoint?) {
        guard let presented, !presented.recorded, let endpoint, case .refusedByPeer(let code) = reason,
              code != .goingAway, code != .timeout else { return }
        joinRefusals[presented.grant.conversation, default: [:]][endpoint] = code
    }
}
