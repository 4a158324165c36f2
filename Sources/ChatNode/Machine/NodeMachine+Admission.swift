import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Admission on an invite token or to a public conversation, both sides, and direct invitations.
///
/// The member a joiner reaches signs a ``JoinAdmission`` (its own clock, the uses it has seen)
/// and sends it; the joiner keeps it and carries it in its join, so every replica judges expiry
/// and use count on the admitting member's word rather than the joiner's clock. Each decision
/// that needs the conversation's state comes in two steps: a query says what to read (the
/// shell reads it from the replica, which suspends), and an input decides on what was read,
/// checking the session and membership again at that moment.
extension NodeMachine {
    /// The most received invitations kept, in all and per delivering peer (so one peer cannot
    /// crowd out the others); more are dropped and counted.
    static let maxReceivedInvitations = 256
    static let maxReceivedInvitationsPerPeer = 32

    // MARK: - As a member: token joins

    /// The token a non-member presented on `link` (a listener's session), when it is one this
    /// node could vouch for: it verifies, names a conversation the session carries, this node is
    /// a member and the peer is not. The shell then reads the conversation's link and use count.
    func tokenJoin(on id: Int, membership: MembershipDirectory) -> InviteGrant? {
        guard let session = sessions[id], session.role == .listener, let peer = session.peer,
              let token = peer.inviteToken, let grant = ConversationInputs.verifyInvite(token),
              peer.conversations.contains(grant.conversation),
              membership.permission(of: replicaID, in: grant.conversation) != nil,
              membership.permission(of: peer.key.replicaID, in: grant.conversation) == nil else { return nil }
        return grant
    }

    /// Decides on a token join (see ``tokenJoin(on:membership:)``) given the conversation's
    /// `link` state and `usesSeen` accepted joins with the token, at wall time `wallNow` (ms).
    /// Nothing is signed when the token does not admit the joiner — judged here even in a
    /// public conversation (where the handshake admits anyone), so an honest member never
    /// vouches for a revoked, declined, used-up or expired token or another invitee's
    /// invitation; when the directory refuses the token, the joiner is told why.
    mutating func onTokenJoinRead(link id: Int, grant: InviteGrant, link record: LinkState?, usesSeen: Int,
                                  wallNow: UInt64, membership: MembershipDirectory) -> [NodeDirective] {
        guard tokenJoin(on: id, membership: membership) == grant, let joiner = sessions[id]?.peerID else { return [] }
        if let reason = membership.refusal(of: grant, by: joiner, now: wallNow) {
            // Admitted to a public conversation all the same (with `view`): say why not on the token.
            return [.send(.admissionRefused(conversation: grant.conversation, reason: reason), link: id)]
        }
        guard let record, !record.revoked, !record.declined else { return [] }
        for expiresAt in [grant.expiresAt, record.record.expiresAt].compactMap({ $0 }) where wallNow > expiresAt { return [] }
        for limit in [grant.useLimit, record.record.useLimit].compactMap({ $0 }) where usesSeen >= Int(limit) { return [] }
        let content = JoinAdmission(conversation: grant.conversation, joiner: joiner, tokenID: grant.tokenID,
                                    admitter: replicaID, admittedAt: wallNow, usesSeen: UInt32(clamping: usesSeen))
        return [.signAdmission(content, link: id)]
    }

    // MARK: - As a member: public joins

    /// The joiner on `link` when it may be vouched for in public `conversation`: the session
    /// carries it, it is public, this node is a member and the peer is not. The shell then reads
    /// how many public joins this node's admissions got accepted in the last hour.
    func publicJoiner(to conversation: ConversationID, on id: Int, membership: MembershipDirectory) -> ReplicaID? {
        guard let peer = sessions[id]?.peer, peer.conversations.contains(conversation),
              membership.isPublic(conversation), membership.permission(of: replicaID, in: conversation) != nil,
              membership.permission(of: peer.key.replicaID, in: conversation) == nil else { return nil }
        return peer.key.replicaID
    }

    /// A non-member asked to be vouched for in a public conversation (see
    /// ``publicJoiner(to:on:membership:)``): vouch, at most ``SharingLimits/publicAdmissionsPerHour``
    /// joiners an hour (the same joiner gets the same admission again), or say `rate_limited`.
    /// Decided synchronously on what was read: concurrent sessions cannot both take the last place.
    mutating func onPublicJoinRead(_ conversation: ConversationID, link id: Int, acceptedThisHour: Int,
                                   wallNow: UInt64, membership: MembershipDirectory) -> [NodeDirective] {
        guard let joiner = publicJoiner(to: conversation, on: id, membership: membership) else { return [] }
        switch publicJoins.decide(for: joiner, in: conversation, now: wallNow, acceptedThisHour: acceptedThisHour) {
        case .resend(let bytes):
            return [.send(.admission(conversation: conversation, admission: bytes), link: id)]
        case .refuse:
            counters.admissionsRefused += 1
            return [.send(.admissionRefused(conversation: conversation, reason: .rateLimited), link: id)]
        case .sign(let usesSeen):
            let content = JoinAdmission(conversation: conversation, joiner: joiner, tokenID: JoinAdmission.publicTokenID,
                                        admitter: replicaID, admittedAt: wallNow, usesSeen: UInt32(clamping: usesSeen))
            return [.signAdmission(content, link: id)]
        }
    }

    /// The shell signed an admission the machine asked for: send it (and, for a public join,
    /// remember it against the hourly limit).
    mutating func onAdmissionSigned(_ bytes: [UInt8], _ content: JoinAdmission, link id: Int) -> [NodeDirective] {
        if content.tokenID == JoinAdmission.publicTokenID {
            publicJoins.noteSigned(bytes, for: content.joiner, in: content.conversation, at: content.admittedAt)
        }
        counters.admissionsSigned += 1
        return [.send(.admission(conversation: content.conversation, admission: bytes), link: id)]
    }

    // MARK: - As a joiner

    /// Asks the peer on link `id` to vouch for this node in each public conversation it is
    /// joining that the session carries (an empty `admission` frame each).
    func publicAdmissionRequests(link id: Int) -> [NodeDirective] {
        guard let peer = sessions[id]?.peer else { return [] }
        return peer.conversations.filter { publicJoins.wanted.contains($0) }
            .map { .send(.admission(conversation: $0, admission: []), link: id) }
    }

    /// Starts joining public `conversation` through the member at `endpoint`: it is dialled,
    /// and every session is asked to vouch.
    mutating func wantPublicAdmission(to conversation: ConversationID, via endpoint: PeerEndpoint) -> [NodeDirective] {
        let dialing = dialOrRefresh(endpoint)
        publicJoins.want(conversation)
        return dialing + sessions.keys.sorted().flatMap { publicAdmissionRequests(link: $0) }
    }

    /// The answer to this node's public join of `conversation`, given its document as just read:
    /// the admission a member of the public conversation signed, or a member's refusal; nil while
    /// neither came. An answer ends the asking.
    mutating func publicJoinAnswer(_ conversation: ConversationID, document: ConversationDocument) -> PublicJoinAnswer? {
        let answer: PublicJoinAnswer
        if document.settings.isPublic, let received = publicJoins.received[conversation],
           document.permissions[received.content.admitter] != nil {
            answer = .admitted(received.bytes)
        } else if let refusal = publicJoins.refusals[conversation] {
            answer = .refused(refusal)
        } else {
            return nil
        }
        publicJoins.finish(conversation)
        return answer
    }

    /// The peer on `link` sent a signed admission for `conversation`.
    ///
    /// For a token join in progress: kept (across restarts too) and the join recorded once the
    /// history it refers to has arrived. One that does not verify, names another joiner or
    /// token, comes from someone other than the peer, or is already past the token's expiry or
    /// use limit is counted and dropped. Of several, the one that saw the fewest uses is kept
    /// (the easiest to satisfy: a member cannot stall the join by vouching for more uses than
    /// there are). For a public join: kept when it names this node, this conversation and the
    /// peer that sent it.
    mutating func onAdmissionReceived(_ bytes: [UInt8], in conversation: ConversationID, link id: Int,
                                      membership: MembershipDirectory) -> [NodeDirective] {
        let sender = sessions[id]?.peerID
        let admission = ConversationInputs.verifyAdmission(bytes)
        guard let pending = pendingJoins[conversation] else {
            guard membership.permission(of: replicaID, in: conversation) == nil, let admission,
                  admission.conversation == conversation, admission.joiner == replicaID,
                  admission.tokenID == JoinAdmission.publicTokenID, admission.admitter == sender else {
                counters.admissionsDropped += 1
                return []
            }
            publicJoins.noteReceived(bytes, admission)
            return []
        }
        guard !pending.recorded, !pending.declining else { return [] }
        guard let admission, admission.conversation == conversation, admission.joiner == replicaID,
              admission.tokenID == pending.grant.tokenID, admission.admitter == sender,
              pending.grant.expiresAt.map({ admission.admittedAt <= $0 }) ?? true,
              pending.grant.useLimit.map({ admission.usesSeen < $0 }) ?? true
        else {
            counters.admissionsDropped += 1
            return []
        }
        if let kept = pending.admission?.content, kept.usesSeen <= admission.usesSeen { return [] }
        pendingJoins[conversation]?.admission = (bytes, admission)
        return [.savePendingJoin(conversation), .completeJoin(conversation)]
    }

    /// The member this node dialled will not vouch for it in `conversation`: remember why — for
    /// a public join, and for a token join as for a refused session.
    mutating func onAdmissionRefused(_ reason: RefuseCode, in conversation: ConversationID, link id: Int) {
        if pendingJoins[conversation] == nil { publicJoins.noteRefused(reason, in: conversation) }
        guard let session = sessions[id], session.presentedJoin == conversation else { return }
        noteJoinRefusal(.refusedByPeer(reason), presented: pendingJoins[conversation], endpoint: session.endpoint)
    }

    // MARK: - Direct invitations

    /// Sends `tokens` (the open direct invitations for `invitee`, read by the shell) over each
    /// session with the invitee's node, in the first conversation the session carries.
    mutating func deliverInvitations(_ tokens: [[UInt8]], to invitee: ReplicaID) -> [NodeDirective] {
        guard !tokens.isEmpty else { return [] }
        var directives: [NodeDirective] = []
        for id in links(to: invitee) {
            guard let carrier = sessions[id]?.peer?.conversations.first else { continue }
            directives += tokens.map { .send(.invitation(conversation: carrier, token: $0), link: id) }
            counters.invitationsDelivered += tokens.count
        }
        return directives
    }

    /// A member's node delivered an invitation on `link`: keep it when its token verifies, once
    /// per signer and token id, within the bounds (a token that does not verify, or one past the
    /// bounds, is counted and dropped).
    /// - Complexity: O(r) in the invitations received.
    mutating func onInvitationReceived(_ bytes: [UInt8], link id: Int, wallNow: UInt64) -> [NodeDirective] {
        guard let from = sessions[id]?.peerID else { return [] }
        guard let grant = ConversationInputs.verifyInvite(bytes), let token = try? InviteToken(decoding: bytes) else {
            counters.invitationsDropped += 1
            return []
        }
        let key = ReceivedInvitationKey(issuer: grant.issuer, tokenID: grant.tokenID)
        guard receivedInvitations[key] == nil else { return [] }
        guard receivedInvitations.count < Self.maxReceivedInvitations,
              receivedInvitations.values.count(where: { $0.from == from }) < Self.maxReceivedInvitationsPerPeer else {
            counters.invitationsDropped += 1
            return []
        }
        receivedInvitations[key] = ReceivedInvitation(token: token, from: from, receivedAt: wallNow)
        return [.emit(.invitationReceived(grant.conversation, from: from))]
    }
}

/// How a member answered this node's public join: its signed admission (the join carries it), or
/// its refusal.
enum PublicJoinAnswer: Sendable, Equatable {
    case admitted([UInt8])
    case refused(RefuseCode)
}
