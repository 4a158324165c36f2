import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Where a join in progress stands, for the command waiting on it (``Node/joinProgress(_:declining:)``).
enum JoinProgress: Sendable {
    case waiting
    /// A member now, or the decline is recorded.
    case done
    /// Given up, and why.
    case failed(NodeCommandError)
}

/// Joining as the shell carries it out (``NodeCommands`` waits on it): the token presented on
/// every dial and saved across restarts, the join recorded once the history it is judged against
/// has arrived, and given up when refused.
extension Node {
    /// The replica of `conversation`, opened and wired to the node when it did not hold it yet.
    func hold(_ conversation: ConversationID) async throws(NodeCommandError) -> ConversationReplica {
        if let replica = replicas[conversation] { return replica }
        let replica: ConversationReplica
        do {
            replica = try ConversationReplica(store: store, conversation: conversation, localReplica: replicaID)
        } catch {
            throw .node(error)
        }
        replicas[conversation] = replica
        await prepare(replica)
        return replica
    }

    /// Starts joining on a verified token: holds the conversation, presents the token on every
    /// session (saved across restarts, unless declining) and dials `targets`. When this node's
    /// state says it is a member already, the join confirms that with the members instead (see
    /// ``PendingJoin/confirmingMembership``).
    func beginJoin(token: [UInt8], grant: InviteGrant, declining: Bool, targets: [PeerEndpoint]) async throws(NodeCommandError) {
        let conversation = grant.conversation
        _ = try await hold(conversation)
        machine.pendingJoins[conversation] = PendingJoin(
            token: token, grant: grant, targets: Set(targets), declining: declining,
            confirmingMembership: !declining && directory.permission(of: replicaID, in: conversation) != nil)
        machine.joinRefusals[conversation] = nil
        if !declining { savePendingJoin(conversation) }
        for target in targets { await carryOut(machine.dialOrRefresh(target)) }
        await completeJoinIfReady(conversation)
    }

    /// Where this node's join (or decline) of `conversation` stands. A join the rules excluded
    /// after it was recorded, or that every address refused, is given up here.
    func joinProgress(_ conversation: ConversationID, declining: Bool) async -> JoinProgress {
        if declining {
            guard machine.pendingJoins[conversation] == nil else { return .waiting }
            return declineFailures.removeValue(forKey: conversation).map { .failed($0) } ?? .done
        }
        if machine.pendingJoins[conversation]?.confirmingMembership == true {
            if machine.confirmMembership(conversation) {
                savePendingJoin(conversation)
                return .done
            }
            // Refused by every address: `revoked` when this node was removed while away.
            if let refusal = machine.refusalByEveryTarget(conversation) {
                await abandonJoin(conversation)
                return .failed(.joinRefused(refusal))
            }
            return .waiting
        }
        if directory.permission(of: replicaID, in: conversation) != nil { return .done }
        // Recorded, but the rules refused it (the last use went to a concurrent join).
        if let refusal = await excludedJoin(conversation) {
            machine.pendingJoins[conversation] = nil
            savePendingJoin(conversation)
            return .failed(.joinRefused(refusal))
        }
        // Every address tried refused: say why rather than wait for the deadline.
        if let refusal = machine.refusalByEveryTarget(conversation) {
            await abandonJoin(conversation)
            return .failed(.joinRefused(refusal))
        }
        return .waiting
    }

    /// Why the rules excluded this node's recorded join in `conversation` (nil: not excluded, or
    /// not recorded yet): see ``PendingJoin/exclusion(in:selfID:)``.
    func excludedJoin(_ conversation: ConversationID) async -> RefuseCode? {
        guard machine.pendingJoins[conversation]?.joinOp != nil, let state = await replicas[conversation]?.conversation else {
            return nil
        }
        return machine.pendingJoins[conversation]?.exclusion(in: state, selfID: replicaID)
    }

    /// Gives up a join that was refused or timed out: the token is no longer presented, and a
    /// conversation of which nothing arrived is forgotten.
    func abandonJoin(_ conversation: ConversationID) async {
        guard machine.pendingJoins[conversation]?.recorded != true else { return }
        let targets = machine.pendingJoins[conversation]?.targets ?? []
        machine.pendingJoins[conversation] = nil
        savePendingJoin(conversation)
        // Stop redialing the join's addresses unless something else needs them (a --peer, a
        // session, a member this node knows there).
        await carryOut(machine.abandonTargets(targets))
        guard let replica = replicas[conversation], await replica.document.permissions.isEmpty else { return }
        replicas[conversation] = nil
        directory.forget(conversation)
        await replica.setEventSink(nil)
    }

    /// Records the join (or decline) once the history it is judged against has arrived (see
    /// ``NodeMachine/joinToRecord(_:state:)``); a profile follows a join.
    func completeJoinIfReady(_ conversation: ConversationID) async {
        guard machine.pendingJoins[conversation]?.recorded == false, let replica = replicas[conversation] else { return }
        let state = await replica.conversation
        switch machine.joinToRecord(conversation, state: state) {
        case nil:
            return
        case .decline(let tokenID):
            do {
                try await submit([.declineInvite(tokenID: tokenID)], to: conversation)
            } catch {
                declineFailures[conversation] = error
            }
            machine.onJoinRecorded(conversation, op: nil, failed: false)
        case .join(let token, let admission):
            let batches: [SignedBatch]
            do {
                batches = try await submit([.join(inviteToken: token, admission: admission)], to: conversation)
            } catch {
                machine.onJoinRecorded(conversation, op: nil, failed: true)
                eventSink.yield(.error(code: error.code, message: "could not record the join: \(error)"))
                return
            }
            let op = batches.lazy.flatMap { $0.operationBatch(past: $0.content.namedCounts).identified }
                .first { if case .join = $0.op { true } else { false } }?.id
            machine.onJoinRecorded(conversation, op: op, failed: false)
            // A profile is judged against the membership the join grants: sign it after the join.
            guard let name = configuration.displayName else { return }
            do {
                try await submit([.setProfile(Profile(displayName: name))], to: conversation)
            } catch {
                eventSink.yield(.error(code: error.code, message: "could not set the profile after joining: \(error)"))
            }
        }
    }

    /// A peer reported its clock: the join may be complete (the token is then forgotten durably).
    func acknowledgeJoin(_ conversation: ConversationID, reported: VectorClock?, localClock: VectorClock) {
        if machine.onClockReported(conversation, reported: reported, localClock: localClock) { savePendingJoin(conversation) }
    }

    func savePendingJoin(_ conversation: ConversationID) {
        let bytes = machine.pendingJoins[conversation]?.savedBytes ?? []
        do {
            try store.setMetadata(bytes, for: conversation)
        } catch {
            eventSink.yield(.error(code: "store", message: "could not save the pending join: \(error)"))
        }
    }
}
