/// What receiving a batch did.
public struct ReceiveResult: Sendable, Hashable {
    /// Operations applied to the visible state.
    public var applied = 0
    /// Operations excluded (they stay in the log, with a reason).
    public var excluded = 0
    /// True when the batch was already received: nothing changed.
    public var duplicate = false
    /// True when the batch changed the validity of operations applied earlier (a revocation
    /// that reaches back, or a change in which governance operations hold): the caller must
    /// call ``Conversation/rebuild(from:)`` with every batch, in causal order.
    public var needsRebuild = false
}

/// A conversation's rules applied to its signed log: which operations are valid, and the
/// visible state they produce. Pure and deterministic: batches come in (in causal order), the
/// same set of batches gives the same state on every replica, whatever the order.
///
/// Every operation is judged against the permissions in force in its own causal past (see
/// ``GovernanceResolution``); a removal excludes the removed member's concurrent operations,
/// including edits and deletes of others' messages, which are then undone by rebuilding the
/// visible state from the log. Messages are judged for size and per-author rate on the author's
/// signed, monotone timestamps; names for length and control characters.
public struct Conversation: Sendable {
    public let id: ConversationID
    public let localReplica: ReplicaID
    let verifyInvite: InviteVerifier
    let verifyAdmission: AdmissionVerifier
    public internal(set) var document: ConversationDocument
    public internal(set) var governance = GovernanceResolution()
    public internal(set) var governanceOps: [GovernanceOp] = []
    /// Excluded operations and why.
    public internal(set) var excluded: [OpID: ExclusionReason] = [:]
    /// Per author: one past the highest counter received.
    public internal(set) var clock = VectorClock()
    /// Per author: timestamps of valid recent posts (the rate window) and the latest timestamp.
    var recentPosts: [ReplicaID: [UInt64]] = [:]
    var latestTimestamp: [ReplicaID: UInt64] = [:]

    /// - Parameters:
    ///   - verifyInvite: decodes join tokens and checks their issuers' signatures.
    ///   - verifyAdmission: decodes the admitting members' records in joins and checks their
    ///     signatures; by default none verifies (every token join is refused).
    public init(id: ConversationID, localReplica: ReplicaID, verifyInvite: @escaping InviteVerifier,
                verifyAdmission: @escaping AdmissionVerifier = { _ in nil }) {
        self.id = id
        self.localReplica = localReplica
        self.verifyInvite = verifyInvite
        self.verifyAdmission = verifyAdmission
        document = ConversationDocument(localReplica: localReplica)
    }

    /// Receives one batch. Batches must arrive in causal order (each after everything in its
    /// clock); a batch already received is ignored.
    /// - Complexity: O(ops · log n) plus, for batches with governance operations, their
    ///   resolution (O(g²) in the g governance operations, which are few).
    public mutating func receive(_ batch: OperationBatch) -> ReceiveResult {
        guard batch.firstCounter >= clock[batch.author] else { return ReceiveResult(duplicate: true) }
        let identified = batch.identified
        let fresh = identified.compactMap { governanceOp($0.id, $0.op, batch) }
        var result = ReceiveResult()
        if !fresh.isEmpty {
            let before = governance
            governanceOps += fresh
            governance.add(fresh)
            syncMembership()
            if reachesBack(from: before, fresh: Set(fresh.map(\.id))) {
                advanceClock(batch)
                result.needsRebuild = true
                return result
            }
        }
        apply(batch, identified: identified, into: &result)
        return result
    }

    /// Rebuilds the visible state from every batch (in causal order), keeping the governance
    /// resolution. Call after ``ReceiveResult/needsRebuild``.
    /// - Complexity: O(total ops · log n).
    public mutating func rebuild(from batches: some Sequence<OperationBatch>) {
        document = ConversationDocument(localReplica: localReplica)
        excluded = [:]
        clock = VectorClock()
        recentPosts = [:]
        latestTimestamp = [:]
        syncMembership()
        var ignored = ReceiveResult()
        for batch in batches where batch.firstCounter >= clock[batch.author] {
            apply(batch, identified: batch.identified, into: &ignored)
        }
    }

    /// Recorded share links and direct invitations by token id, with their uses, revocation
    /// and decline (see ``SharingState``).
    public var links: [[UInt8]: LinkState] { governance.sharing.links }

    /// Accepted access requests in causal order, each marked when granted.
    public var accessRequests: [AccessRequest] { governance.sharing.accessRequests }

    /// Accepted joins with `tokenID`, recorded as a link or not (what an admitting member
    /// reports as seen in a ``JoinAdmission``).
    /// - Complexity: O(g) in the governance operations.
    public func acceptedJoins(withToken tokenID: [UInt8]) -> Int {
        governance.acceptedInOrder.count { op in
            if case .join(.token(let grant, _)) = op.kind { return grant.tokenID == tokenID }
            return false
        }
    }

    /// The number of accepted removals.
    public var revocationCount: Int { governance.removals.values.reduce(0) { $0 + $1.count } }

    // MARK: Internals

    private func governanceOp(_ id: OpID, _ op: ConversationOp, _ batch: OperationBatch) -> GovernanceOp? {
        let kind: GovernanceOp.Kind
        switch op {
        case .genesis(let genesis): kind = .genesis(title: genesis.title, isPublic: genesis.isPublic)
        case .setPermission(let member, let permission): kind = .setPermission(member: member, permission: permission)
        case .removeMember(let member): kind = .removeMember(member: member)
        case .setSettings(let settings): kind = .setSettings(settings)
        case .createLink(var record):
            // A carried token that is not this link's (id, signer, conversation) is dropped: it
            // would be delivered as the invitation.
            if let token = record.token,
               verifyInvite(token).map({ $0.tokenID == record.tokenID && $0.issuer == batch.author && $0.conversation == self.id }) != true {
                record.token = nil
            }
            kind = .createLink(record)
        case .revokeLink(let tokenID): kind = .revokeLink(tokenID: tokenID)
        case .declineInvite(let tokenID): kind = .declineInvite(tokenID: tokenID)
        case .requestAccess(let permission, let note): kind = .requestAccess(permission: permission, note: note)
        case .join(let token, let admission):
            if token.isEmpty {
                kind = admission.isEmpty ? .join(.publicJoin) : .join(.invalidToken)
            } else if let grant = verifyInvite(token), grant.conversation == self.id {
                // An admission counts only for this conversation, token and joiner (so a snapshot,
                // which keeps only what counts, judges alike).
                let verified = admission.isEmpty ? nil : verifyAdmission(admission)
                let fits = verified.map { $0.conversation == self.id && $0.tokenID == grant.tokenID && $0.joiner == batch.author }
                kind = .join(.token(grant, admission: fits == true ? verified : nil))
            } else {
                kind = .join(.invalidToken)
            }
        default: return nil
        }
        return GovernanceOp(id: id, kind: kind, cut: batch.cut(of: id), timestamp: batch.timestamp)
    }

    /// True when the new resolution changes the validity of operations already applied.
    private func reachesBack(from before: GovernanceResolution, fresh: Set<OpID>) -> Bool {
        if !before.accepted.isSubset(of: governance.accepted) { return true }
        if !governance.accepted.subtracting(fresh).isSubset(of: before.accepted) { return true }
        for (member, removals) in governance.removals {
            for removal in removals where !(before.removals[member] ?? []).contains(removal) {
                // Ops of the member this removal did not see, already received?
                if clock[member] > removal.cut[member] { return true }
            }
        }
        return false
    }

    private mutating func syncMembership() {
        document.permissions = governance.final.permissions
        document.settings = governance.final.settings
        document.title = governance.final.title
    }

    private mutating func advanceClock(_ batch: OperationBatch) {
        let end = batch.identified.last.map { $0.id.counter &+ $0.op.idCount } ?? batch.firstCounter
        if end > clock[batch.author] { clock[batch.author] = end }
    }

    private mutating func apply(_ batch: OperationBatch, identified: [(id: OpID, op: ConversationOp)], into result: inout ReceiveResult) {
        let author = batch.author
        let timestamp = max(batch.timestamp, latestTimestamp[author] ?? 0)
        latestTimestamp[author] = timestamp
        for (id, op) in identified {
            if let reason = judge(id, op, batch, timestamp: timestamp) {
                excluded[id] = reason
                result.excluded += 1
                continue
            }
            if op.isGovernance {
                result.applied += 1 // membership is materialized from the resolution
                continue
            }
            do {
                try document.apply(op, id: id, timestamp: timestamp)
                result.applied += 1
                if case .postMessage = op {
                    // Keep only the last minute: the window the rate rule looks at.
                    recentPosts[author, default: []].append(timestamp)
                    if let first = recentPosts[author]?.first, timestamp >= 60_000, first <= timestamp - 60_000 {
                        recentPosts[author]?.removeAll { $0 <= timestamp - 60_000 }
                    }
                }
            } catch {
                excluded[id] = .invalid
                result.excluded += 1
            }
        }
        advanceClock(batch)
    }

    /// Why `op` is excluded, or nil when it is valid.
    private func judge(_ id: OpID, _ op: ConversationOp, _ batch: OperationBatch, timestamp: UInt64) -> ExclusionReason? {
        if op.isGovernance { return governance.rejected[id] }
        let cut = batch.causalPast(of: id)
        guard let permission = governance.permission(of: id.replica, for: id, cut: cut) else {
            return governance.isExcludedByRevocation(id, cut: cut) ? .revoked : .notPermitted
        }
        var messageAuthor: ReplicaID?
        switch op {
        case .insertText(let insert): messageAuthor = insert.message.replica
        case .deleteText(let delete): messageAuthor = delete.message.replica
        case .deleteMessage(let message): messageAuthor = message.replica
        default: break
        }
        if let target = messageTarget(op) {
            guard document.messages.index(forKey: target) != nil else { return .unknownTarget }
        }
        let needed = ContentRules.requiredPermission(for: op, by: id.replica, messageAuthor: messageAuthor)
        guard permission >= needed else { return .notPermitted }
        let settings = governance.settings(cut: cut)
        switch op {
        case .postMessage(let post):
            guard ContentRules.utf8Count(post.body) <= Int(settings.maxMessageBytes) else { return .tooLarge }
            // Compared by subtraction: a hostile timestamp near UInt64.max must not overflow.
            let window = (recentPosts[id.replica] ?? []).reversed().prefix { timestamp < 60_000 || $0 > timestamp - 60_000 }
            guard window.count < Int(settings.messagesPerMinute) else { return .rateLimited }
        case .insertText(let insert):
            guard ContentRules.utf8Count(insert.text) <= Int(settings.maxMessageBytes) else { return .tooLarge }
        case .setProfile(let profile):
            guard ContentRules.isValidName(profile.displayName), ContentRules.isValidShortText(profile.status),
                  ContentRules.isValidShortText(profile.statusEmoji), ContentRules.isValidShortText(profile.avatar)
            else { return .invalidName }
        default:
            break
        }
        return nil
    }

    private func messageTarget(_ op: ConversationOp) -> OpID? {
        switch op {
        case .insertText(let insert): insert.message
        case .deleteText(let delete): delete.message
        case .deleteMessage(let message): message
        default: nil
        }
    }
}

extension Conversation {
    /// Why this replica's next operation `op`, signed at `timestamp`, would be excluded by the
    /// rules (permission, size, rate, target), or nil when it would apply. Lets a node refuse a
    /// local action before signing it into the log. Sharing operations (`createLink`,
    /// `revokeLink`, `declineInvite`, `requestAccess`) are judged by resolving them with the
    /// governance operations received so far; other governance operations are judged when received.
    /// - Complexity: as judging one received operation; for sharing operations, one governance
    ///   resolution step (O(g) usually).
    public func exclusion(ofLocal op: ConversationOp, timestamp: UInt64) -> ExclusionReason? {
        let first = clock[localReplica]
        var past = clock
        past[localReplica] = first
        let batch = OperationBatch(author: localReplica, firstCounter: first, clock: past, timestamp: timestamp,
                                   operations: [op])
        let id = OpID(replica: localReplica, counter: first)
        switch op {
        case .createLink, .revokeLink, .declineInvite, .requestAccess:
            // Resolve a copy with the operation added, as every replica will.
            guard let governed = governanceOp(id, op, batch) else { return .invalid }
            var trial = governance
            trial.add([governed])
            return trial.rejected[id]
        default:
            return judge(id, op, batch, timestamp: timestamp)
        }
    }
}
