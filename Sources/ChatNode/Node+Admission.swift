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
    /// conversation and send it. Nothing is signed when the token does not admit it — judged
    /// here even in a public conversation (where the handshake admits anyone), so an honest
    /// member never vouches for a revoked, declined, used-up or expired token or another
    /// invitee's invitation. A public join is vouched for only when asked
    /// (``requestPublicAdmissions(link:)``): a reader that follows a public conversation takes
    /// none of the member's hourly admissions.
    func admitJoiner(_ peer: SessionPeer, link id: Int) async {
        await admitTokenJoiner(peer, link: id)
    }

    /// Asks the peer on link `id` to vouch for this node in each public conversation it is
    /// joining that the session carries (an empty `admission` frame each).
    func requestPublicAdmissions(link id: Int) {
        guard let peer = machine.sessions[id]?.peer else { return }
        for conversation in peer.conversations where publicJoins.wanted.contains(conversation) {
            channels[id]?.commands.yield(.send(.admission(conversation: conversation, admission: [])))
        }
    }

    /// A non-member asked this member to vouch for its join to a public conversation: vouch (a
    /// ``JoinAdmission`` naming ``JoinAdmission/publicTokenID``), at most
    /// ``SharingLimits/publicAdmissionsPerHour`` joiners an hour, or say `rate_limited`. Nothing
    /// happens for a private conversation, a member, or a session that does not carry it.
    private func admitPublicJoiner(to conversation: ConversationID, link id: Int) async {
        guard let peer = machine.sessions[id]?.peer, peer.conversations.contains(conversation) else { return }
        let joiner = peer.key.replicaID
        guard directory.isPublic(conversation), directory.permission(of: replicaID, in: conversation) != nil,
              directory.permission(of: joiner, in: conversation) == nil, let replica = replicas[conversation]
        else { return }
        let admittedAt = configuration.wallClock()
        let accepted = await replica.conversation.publicAdmissions(by: replicaID, inHourBefore: admittedAt)
        // Decided after the await, synchronously: concurrent sessions cannot both take the last place.
        switch publicJoins.decide(for: joiner, in: conversation, now: admittedAt, acceptedThisHour: accepted) {
        case .resend(let bytes):
            channels[id]?.commands.yield(.send(.admission(conversation: conversation, admission: bytes)))
        case .refuse:
            machine.counters.admissionsRefused += 1
            channels[id]?.commands.yield(.send(.admissionRefused(conversation: conversation, reason: .rateLimited)))
        case .sign(let usesSeen):
            let content = JoinAdmission(conversation: conversation, joiner: joiner, tokenID: JoinAdmission.publicTokenID,
                                        admitter: replicaID, admittedAt: admittedAt, usesSeen: UInt32(clamping: usesSeen))
            let key = identity
            let admission = SignedAdmission(content: content) { key.sign($0).bytes }
            publicJoins.noteSigned(admission.bytes, for: joiner, in: conversation, at: admittedAt)
            machine.counters.admissionsSigned += 1
            channels[id]?.commands.yield(.send(.admission(conversation: conversation, admission: admission.bytes)))
        }
    }

    private func admitTokenJoiner(_ peer: SessionPeer, link id: Int) async {
        let joiner = peer.key.replicaID
        guard let token = peer.inviteToken, let grant = ConversationInputs.verifyInvite(token),
              peer.conversations.contains(grant.conversation), let replica = replicas[grant.conversation],
              directory.permission(of: replicaID, in: grant.conversation) != nil,
              directory.permission(of: joiner, in: grant.conversation) == nil
        else { return }
        let admittedAt = configuration.wallClock()
        if let reason = directory.refusal(of: grant, by: joiner, now: admittedAt) {
            // Admitted to a public conversation all the same (with `view`): say why not on the token.
            channels[id]?.commands.yield(.send(.admissionRefused(conversation: grant.conversation, reason: reason)))
            return
        }
        let conversation = await replica.conversation
        let usesSeen = conversation.acceptedJoins(withToken: grant.tokenID)
        if let expiresAt = grant.expiresAt, admittedAt > expiresAt { return }
        if let limit = grant.useLimit, usesSeen >= Int(limit) { return }
        // Judged again on the state read after the await: a revocation or decline meanwhile counts.
        guard let link = conversation.links[grant.tokenID], !link.revoked, !link.declined else { return }
        let record = link.record
        if let expiresAt = record.expiresAt, admittedAt > expiresAt { return }
        if let limit = record.useLimit, usesSeen >= Int(limit) { return }
        let content = JoinAdmission(conversation: grant.conversation, joiner: joiner, tokenID: grant.tokenID,
                                    admitter: replicaID, admittedAt: admittedAt,
                                    usesSeen: UInt32(clamping: usesSeen))
        let key = identity
        let admission = SignedAdmission(content: content) { key.sign($0).bytes }
        machine.counters.admissionsSigned += 1
        channels[id]?.commands.yield(.send(.admission(conversation: grant.conversation, admission: admission.bytes)))
    }

    /// The member this node dialled to join sent its signed admission: keep it (across restarts
    /// too) and record the join once the history it refers to has arrived. An admission that does
    /// not verify, names another joiner or token, comes from someone other than the peer, or is
    /// already past the token's expiry or use limit is counted and dropped. Of several, the one
    /// that saw the fewest uses is kept (the easiest to satisfy: a member cannot stall the join
    /// by vouching for more uses than there are).
    func receivedAdmission(_ bytes: [UInt8], in conversation: ConversationID, link id: Int) async {
        if bytes.isEmpty {
            await admitPublicJoiner(to: conversation, link: id)
            return
        }
        if machine.pendingJoins[conversation] == nil {
            receivedPublicAdmission(bytes, in: conversation, link: id)
            return
        }
        guard let pending = machine.pendingJoins[conversation], !pending.recorded, !pending.declining else { return }
        guard let admission = ConversationInputs.verifyAdmission(bytes), admission.conversation == conversation,
              admission.joiner == replicaID, admission.tokenID == pending.grant.tokenID,
              admission.admitter == machine.sessions[id]?.peer?.key.replicaID,
              pending.grant.expiresAt.map({ admission.admittedAt <= $0 }) ?? true,
              pending.grant.useLimit.map({ admission.usesSeen < $0 }) ?? true
        else {
            machine.counters.admissionsDropped += 1
            return
        }
        if let kept = pending.admission?.content, kept.usesSeen <= admission.usesSeen { return }
        machine.pendingJoins[conversation]?.admission = (bytes, admission)
        savePendingJoin(conversation)
        await completeJoinIfReady(conversation)
    }

    /// A member vouched for this node's public join: keep the admission for `joinPublic` when it
    /// names this node, this conversation and the peer that sent it (else counted and dropped).
    private func receivedPublicAdmission(_ bytes: [UInt8], in conversation: ConversationID, link id: Int) {
        guard directory.permission(of: replicaID, in: conversation) == nil,
              let admission = ConversationInputs.verifyAdmission(bytes), admission.conversation == conversation,
              admission.joiner == replicaID, admission.tokenID == JoinAdmission.publicTokenID,
              admission.admitter == machine.sessions[id]?.peer?.key.replicaID
        else {
            machine.counters.admissionsDropped += 1
            return
        }
        publicJoins.noteReceived(bytes, admission)
    }

    /// The member this node dialled to join will not vouch for its token (a public conversation
    /// admitted the session anyway): remember why, as for a refused session.
    func noteAdmissionRefused(_ reason: RefuseCode, in conversation: ConversationID, link id: Int) {
        if machine.pendingJoins[conversation] == nil { publicJoins.noteRefused(reason, in: conversation) }
        machine.noteAdmissionRefused(reason, in: conversation, link: id)
    }
}
