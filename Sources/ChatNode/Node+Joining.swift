import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

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

    /// Starts joining on a verified token (see ``NodeMachine/beginJoin(token:grant:declining:targets:isMember:)``).
    func beginJoin(token: [UInt8], grant: InviteGrant, declining: Bool, targets: [PeerEndpoint]) async throws(NodeCommandError) {
        _ = try await hold(grant.conversation)
        await carryOut(machine.beginJoin(token: token, grant: grant, declining: declining, targets: targets,
                                         isMember: directory.permission(of: replicaID, in: grant.conversation) != nil))
    }

    /// Where this node's join (or decline) of `conversation` stands, decided by the machine on
    /// what was just read (see ``NodeMachine/joinProgress(_:declining:isMember:excluded:)``).
    func joinProgress(_ conversation: ConversationID, declining: Bool) async -> JoinProgress {
        let excluded = declining ? nil : await excludedJoin(conversation)
        let (progress, directives) = machine.joinProgress(
            conversation, declining: declining, isMember: directory.permission(of: replicaID, in: conversation) != nil,
            excluded: excluded)
        await carryOut(directives)
        return progress
    }

    /// Why the rules excluded this node's recorded join in `conversation` (nil: not excluded, or
    /// not recorded yet): see ``PendingJoin/exclusion(in:selfID:)``.
    private func excludedJoin(_ conversation: ConversationID) async -> RefuseCode? {
        guard machine.pendingJoins[conversation]?.joinOp != nil, let state = await replicas[conversation]?.conversation else {
            return nil
        }
        return machine.pendingJoins[conversation]?.exclusion(in: state, selfID: replicaID)
    }

    /// Gives up a join that was refused or timed out (see ``NodeMachine/abandonJoin(_:)``); a
    /// conversation of which nothing arrived is forgotten.
    func abandonJoin(_ conversation: ConversationID) async {
        guard let directives = machine.abandonJoin(conversation) else { return }
        await carryOut(directives)
        guard let replica = replicas[conversation], await replica.document.permissions.isEmpty,
              machine.pendingJoins[conversation] == nil else { return } // not joined again meanwhile
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
                machine.declineFailures[conversation] = error
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
}
