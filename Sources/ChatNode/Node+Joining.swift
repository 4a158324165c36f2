import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Invite tokens and joining a conversation on one: dial, be admitted and receive the admitting
/// member's signed admission, catch up, record the join (kept across restarts until a member
/// holds it), or fail with the members' reason.
extension Node {
    /// Creates a share link for `conversation` (admins only): signs an invite token carrying this
    /// node's address and records the link in the signed log (see ``createLink(in:permission:expiresAt:useLimit:label:invitee:)``),
    /// so it is listed, counted, rate-limited and revocable like every link.
    public func invite(_ conversation: ConversationID, permission: Permission, expiresAt: UInt64? = nil,
                       useLimit: UInt32? = nil, label: String = "") async throws(NodeCommandError) -> InviteToken {
        let link = try await createLink(in: conversation, permission: permission, expiresAt: expiresAt,
                                        useLimit: useLimit, label: label)
        guard let bytes = ShareLink.tokenBytes(from: link.url), let token = try? InviteToken(decoding: bytes) else {
            throw .invalidToken("the link just signed does not decode") // not reached: it was just encoded
        }
        return token
    }

    /// Signs an invite token for `conversation` (admins only) carrying this node's address; it
    /// admits no one until its link is recorded.
    func signInviteToken(_ conversation: ConversationID, permission: Permission, expiresAt: UInt64?,
                         useLimit: UInt32?, label: String) throws(NodeCommandError) -> InviteToken {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins can invite")
        guard label.utf8.count <= 256 else { throw .invalidArgument("a label is at most 256 bytes") }
        var randomness = SystemRandomNumberGenerator()
        let tokenID = (0 ..< InviteTokenContent.tokenIDBytes).map { _ in UInt8.random(in: 0 ... 255, using: &randomness) }
        let addresses = [configuration.advertised ?? listeningOn].compactMap { $0?.description }
        let content = InviteTokenContent(conversation: conversation, permission: permission, issuer: replicaID,
                                         tokenID: tokenID, issuedAt: configuration.wallClock(), expiresAt: expiresAt,
                                         useLimit: useLimit, label: label, addresses: addresses)
        let key = identity
        return InviteToken(content: content) { key.sign($0).bytes }
    }

    /// Joins the conversation of `tokenBytes` through the peer at `endpoint` (or the token's
    /// addresses): dials, is admitted on the token, catches up, and records the join as a signed
    /// operation carrying the token. Returns once the join is durable here.
    public func join(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?,
                     timeout: Duration = .seconds(15)) async throws(NodeCommandError) -> ConversationID {
        try await join(token: tokenBytes, via: endpoint, timeout: timeout, declining: false)
    }

    func join(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?, timeout: Duration,
              declining: Bool) async throws(NodeCommandError) -> ConversationID {
        guard let grant = ConversationInputs.verifyInvite(tokenBytes), let token = try? InviteToken(decoding: tokenBytes) else {
            throw .invalidToken("it does not decode or its signature does not verify")
        }
        // Said with the code a member's node would refuse it with.
        if let expiresAt = grant.expiresAt, configuration.wallClock() > expiresAt { throw .joinRefused(.inviteExpired) }
        let conversation = grant.conversation
        if directory.permission(of: replicaID, in: conversation) != nil { return conversation }
        if replicas[conversation] == nil {
            do {
                let replica = try ConversationReplica(store: store, conversation: conversation, localReplica: replicaID)
                replicas[conversation] = replica
                await prepare(replica)
            } catch {
                throw .node(error)
            }
        }
        machine.pendingJoins[conversation] = PendingJoin(token: tokenBytes, grant: grant, declining: declining)
        machine.joinRefusals[conversation] = nil
        if !declining { savePendingJoin(conversation) }
        let targets = endpoint.map { [$0] } ?? token.content.addresses.compactMap { PeerEndpoint($0) }
        guard !targets.isEmpty else { throw .invalidArgument("the token carries no address: give the peer's host:port") }
        machine.pendingJoins[conversation]?.targets = Set(targets)
        for target in targets { await carryOut(machine.dialOrRefresh(target)) }
        await completeJoinIfReady(conversation)
        let deadline = now + timeout
        if declining {
            while machine.pendingJoins[conversation] != nil {
                guard now < deadline else {
                    await abandonJoin(conversation)
                    throw .timedOut("the invitation's record did not arrive from \(targets.map(\.description).joined(separator: ", "))")
                }
                try? await configuration.clock.sleep(for: .milliseconds(10))
            }
            if let failure = declineFailures.removeValue(forKey: conversation) { throw failure }
            return conversation
        }
        while directory.permission(of: replicaID, in: conversation) == nil {
            // Recorded, but the rules refused it (the last use went to a concurrent join).
            if let refusal = await excludedJoin(conversation) {
                machine.pendingJoins[conversation] = nil
                savePendingJoin(conversation)
                throw .joinRefused(refusal)
            }
            // Every address tried refused: say why rather than wait for the deadline.
            if let refusals = machine.joinRefusals[conversation], Set(targets).isSubset(of: refusals.keys),
               machine.pendingJoins[conversation]?.recorded != true, let reason = targets.compactMap({ refusals[$0] }).first {
                await abandonJoin(conversation)
                throw .joinRefused(reason)
            }
            guard now < deadline else {
                await abandonJoin(conversation)
                throw .timedOut("no member at \(targets.map(\.description).joined(separator: ", ")) admitted this node")
            }
            try? await configuration.clock.sleep(for: .milliseconds(10))
        }
        // Durable here. Until a member reports holding the join, the token is presented again on
        // every dial (across restarts too), so the join cannot be stranded.
        return conversation
    }

    /// Where this node's join of `conversation` stands (nil: not joining, or declining): see
    /// ``NodeStatus/Conversation/joinStage``.
    func joinStage(of conversation: ConversationID) -> String? {
        guard let pending = machine.pendingJoins[conversation], !pending.declining else { return nil }
        if pending.recorded { return "recorded" }
        let stored = ((try? store.batchCount(conversation)) ?? 0) > 0
        if pending.admission != nil { return stored ? "catching_up" : "admitted" }
        let carried = machine.sessions.values.contains { $0.peer?.conversations.contains(conversation) == true }
        if carried { return stored ? "catching_up" : "authenticated" }
        return "dialling"
    }

    /// Starts holding a conversation this node's identity is already a member of (another device
    /// of the same identity, or a store that was lost): it syncs from the peers it dials.
    public func follow(_ conversation: ConversationID) async throws(NodeCommandError) {
        guard replicas[conversation] == nil else { return }
        do {
            let replica = try ConversationReplica(store: store, conversation: conversation, localReplica: replicaID)
            replicas[conversation] = replica
            await prepare(replica)
        } catch {
            throw .node(error)
        }
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
        let bytes = machine.pendingJoins[conversation].map { PendingJoin.encode(token: $0.token, admission: $0.admission?.bytes ?? []) } ?? []
        do {
            try store.setMetadata(bytes, for: conversation)
        } catch {
            eventSink.yield(.error(code: "store", message: "could not save the pending join: \(error)"))
        }
    }
}
