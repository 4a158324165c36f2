import ChatControl
import ChatCore
import ChatSync
import ChatWire

/// What a join in progress records once the conversation's history allows it.
enum JoinRecording: Sendable, Hashable {
    /// Sign a decline of the direct invitation with this token id.
    case decline(tokenID: [UInt8])
    /// Sign the join, carrying the token and the admitting member's signed admission.
    case join(token: [UInt8], admission: [UInt8])
}

/// Where a join in progress stands, for the command waiting on it (``NodeMachine/joinProgress(_:declining:isMember:excluded:)``).
enum JoinProgress: Sendable, Equatable {
    case waiting
    /// A member now, or the decline is recorded.
    case done
    /// Given up, and why.
    case failed(NodeCommandError)
}

/// Joining, as the joiner: when to record the join, when it is done, and why it failed.
extension NodeMachine {
    /// Starts joining `conversation` on a verified token (`isMember`: this node's state says it
    /// is a member already; the join then confirms that with the members, see
    /// ``PendingJoin/confirmingMembership``): the token is presented on every session, saved
    /// across restarts unless declining, and `targets` are dialled.
    mutating func beginJoin(token: [UInt8], grant: InviteGrant, declining: Bool, targets: [PeerEndpoint],
                            isMember: Bool) -> [NodeDirective] {
        let conversation = grant.conversation
        pendingJoins[conversation] = PendingJoin(token: token, grant: grant, targets: Set(targets), declining: declining,
                                                 confirmingMembership: !declining && isMember)
        joinRefusals[conversation] = nil
        return (declining ? [] : [.savePendingJoin(conversation)]) + targets.flatMap { dialOrRefresh($0) }
            + [.completeJoin(conversation)]
    }

    /// Where the join (or decline) of `conversation` stands, decided on what the shell read just
    /// before: whether this node is a member now, and why the rules excluded its recorded join
    /// (see ``PendingJoin/exclusion(in:selfID:)``). A join the rules excluded, or that every
    /// address refused, is given up (the directives say so).
    mutating func joinProgress(_ conversation: ConversationID, declining: Bool, isMember: Bool,
                               excluded: RefuseCode?) -> (JoinProgress, [NodeDirective]) {
        if declining {
            guard pendingJoins[conversation] == nil else { return (.waiting, []) }
            return (declineFailures.removeValue(forKey: conversation).map { .failed($0) } ?? .done, [])
        }
        let confirming = pendingJoins[conversation]?.confirmingMembership == true
        if confirming, confirmMembership(conversation) { return (.done, [.savePendingJoin(conversation)]) }
        if !confirming, isMember { return (.done, []) }
        // Recorded, but the rules refused it (the last use went to a concurrent join).
        if !confirming, let excluded {
            pendingJoins[conversation] = nil
            return (.failed(.joinRefused(excluded)), [.savePendingJoin(conversation)])
        }
        // Every address tried refused (`revoked` when this node was removed while away): say
        // why rather than wait for the deadline.
        if let refusal = refusalByEveryTarget(conversation) {
            return (.failed(.joinRefused(refusal)), [.abandonJoin(conversation)])
        }
        return (.waiting, [])
    }

    /// Gives up the join of `conversation` (refused or timed out) unless it is recorded: the
    /// token is no longer presented, and the join's addresses are no longer dialled unless
    /// something else needs them. Nil when the join is recorded (it is not given up).
    mutating func abandonJoin(_ conversation: ConversationID) -> [NodeDirective]? {
        guard pendingJoins[conversation]?.recorded != true else { return nil }
        let targets = pendingJoins[conversation]?.targets ?? []
        pendingJoins[conversation] = nil
        return [.savePendingJoin(conversation)] + abandonTargets(targets)
    }

    /// What to record for the join of `conversation` given its state as just read (nil: nothing
    /// yet). The join carries the admitting member's record; it is judged against a history
    /// holding the issuer's grant, the link's record, the admitting member and the joins it had
    /// seen, so it is signed only once those have arrived. A decline waits for the invitation's
    /// record. A node that is a member already records nothing. Decided on the pending join as
    /// it is now: an easier admission may have replaced the one seen before the read.
    mutating func joinToRecord(_ conversation: ConversationID, state: Conversation) -> JoinRecording? {
        guard let pending = pendingJoins[conversation], !pending.recorded else { return nil }
        let tokenID = pending.grant.tokenID
        if pending.declining {
            guard state.links[tokenID] != nil else { return nil }
            pendingJoins[conversation]?.recorded = true
            return .decline(tokenID: tokenID)
        }
        let document = state.document
        if document.permissions[replicaID] != nil {
            // A member per this node's state; unless that may be stale (see confirmMembership).
            if !pending.confirmingMembership { pendingJoins[conversation]?.recorded = true }
            return nil
        }
        guard let admission = pending.admission, document.permissions[pending.grant.issuer] == .admin,
              document.permissions[admission.content.admitter] != nil, state.links[tokenID] != nil,
              state.acceptedJoins(withToken: tokenID) >= Int(admission.content.usesSeen) else { return nil }
        pendingJoins[conversation]?.recorded = true
        return .join(token: pending.token, admission: admission.bytes)
    }

    /// The join (or decline) of `conversation` was signed and stored, as operation `op` (nil
    /// for a decline, which ends the pending join), or failed to be (it is tried again).
    mutating func onJoinRecorded(_ conversation: ConversationID, op: OpID?, failed: Bool) {
        if failed {
            pendingJoins[conversation]?.recorded = false
        } else if pendingJoins[conversation]?.declining == true {
            pendingJoins[conversation] = nil
        } else {
            pendingJoins[conversation]?.joinOp = op
        }
    }

    /// Where this node's join of `conversation` stands (nil: not joining, or declining), given
    /// whether any of its history is stored here: see ``NodeStatus/Conversation/joinStage``.
    func joinStage(of conversation: ConversationID, historyStored stored: Bool) -> String? {
        guard let pending = pendingJoins[conversation], !pending.declining else { return nil }
        if pending.recorded { return "recorded" }
        if pending.admission != nil { return stored ? "catching_up" : "admitted" }
        if sessionCount(carrying: conversation) > 0 { return stored ? "catching_up" : "authenticated" }
        return "dialling"
    }

    /// For a join that began while this node's state said it was a member (see
    /// ``PendingJoin/confirmingMembership``): true once a session carries `conversation`, so a
    /// member's node admitted this one to it. The join then ends, with nothing to record.
    mutating func confirmMembership(_ conversation: ConversationID) -> Bool {
        guard pendingJoins[conversation]?.confirmingMembership == true,
              sessionCount(carrying: conversation) > 0 else { return false }
        pendingJoins[conversation] = nil
        return true
    }

    /// The refusal the addresses dialled for the join of `conversation` gave, once every one of
    /// them refused and the join is not recorded (nil otherwise): the join fails with it rather
    /// than wait for its deadline.
    func refusalByEveryTarget(_ conversation: ConversationID) -> RefuseCode? {
        guard let pending = pendingJoins[conversation], !pending.recorded, !pending.targets.isEmpty,
              let refusals = joinRefusals[conversation], pending.targets.isSubset(of: refusals.keys) else { return nil }
        return pending.targets.sorted().lazy.compactMap { refusals[$0] }.first
    }

    /// A peer reported its clock on a session replicating `conversation`: once it holds
    /// everything this node wrote (the join included), the join is complete and its token is no
    /// longer presented. True when that just happened (the shell forgets it durably).
    mutating func onClockReported(_ conversation: ConversationID, reported: VectorClock?, localClock: VectorClock) -> Bool {
        guard pendingJoins[conversation]?.recorded == true, let reported, localClock[replicaID] > 0,
              reported[replicaID] >= localClock[replicaID] else { return false }
        pendingJoins[conversation] = nil
        return true
    }
}

extension PendingJoin {
    /// Why the rules excluded this recorded join in `state` (nil: not excluded, or not recorded
    /// yet), said with the code a member's node would refuse it with.
    func exclusion(in state: Conversation, selfID: ReplicaID) -> RefuseCode? {
        guard let joinOp, state.excluded[joinOp] != nil else { return nil }
        guard let link = state.links[grant.tokenID] else { return .invalidInvite }
        if link.revoked { return .inviteRevoked }
        if link.declined { return .inviteDeclined }
        if let invitee = link.record.invitee, invitee != selfID { return .notTheInvitee }
        if let admittedAt = admission?.content.admittedAt,
           let expiresAt = [link.record.expiresAt, grant.expiresAt].compactMap({ $0 }).min(), admittedAt > expiresAt {
            return .inviteExpired
        }
        if let limit = [link.record.useLimit, grant.useLimit].compactMap({ $0 }).min(), link.uses >= Int(limit) {
            return .inviteUsedUp
        }
        return .invalidInvite
    }
}
