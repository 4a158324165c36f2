/// Why a batch is not stored at all (see ``Conversation/storageRefusal(of:)``).
public enum StorageRefusal: String, Sendable, Hashable, CaseIterable {
    /// Its author is not a member in its causal past, and it is not a lone join or decline.
    case notAMember = "not_a_member"
    /// A lone join by a non-member that its causal past does not admit.
    case inadmissibleJoin = "inadmissible_join"
}

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
    /// Authors that forked their history, with the fork point: every operation of theirs from
    /// that counter on is excluded, on every branch.
    public internal(set) var equivocators: [ReplicaID: UInt32] = [:]
    /// Recent resolutions of the governance operations in some batches' pasts, by their ids.
    var pastResolutions: [[OpID]: GovernanceResolution] = [:]
    /// The last join whose token and admission were verified: a stranger's join is judged for
    /// storage and then received, and each verification is an Ed25519 check.
    private var lastJoinVerified: VerifiedJoin?

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
        var fresh: [GovernanceOp] = []
        for (id, op) in identified where op.isGovernance && !isEquivocated(id) {
            if let governed = governanceOp(id, op, batch) { fresh.append(governed) }
        }
        var result = ReceiveResult()
        if !fresh.isEmpty {
            // What the reach-back check compares, not the whole resolution: a copy would make
            // the resolution's next changes copy its containers.
            let before = GovernanceVerdicts(governance)
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

    /// Records that `author` signed two different batches for the same counters, the earliest
    /// at `counter` (the smallest first counter of two overlapping batches it signed). From
    /// then on every operation of `author` at or after the fork point is excluded as
    /// `equivocated` on every branch, and never placed; operations of others that anchored on
    /// such an element are placed without it (see ``reanchored(_:cut:)``), so honest replies
    /// built on either branch stay. Every replica that
    /// knows the same batches computes the same fork point, so they agree.
    /// - Returns: true when the caller must rebuild (``rebuild(from:)``) with every batch.
    /// - Complexity: one governance resolution.
    public mutating func noteEquivocation(by author: ReplicaID, from counter: UInt32) -> Bool {
        if let known = equivocators[author], known <= counter { return false }
        equivocators[author] = counter
        let equivocators = self.equivocators
        governanceOps.removeAll { op in equivocators[op.id.replica].map { op.id.counter >= $0 } ?? false }
        governance = GovernanceResolution(resolving: governanceOps)
        pastResolutions = [:]
        syncMembership()
        return true
    }

    /// True when `id` was signed by an equivocating author at or after its fork point.
    @inline(__always)
    func isEquivocated(_ id: OpID) -> Bool {
        guard !equivocators.isEmpty, let point = equivocators[id.replica] else { return false }
        return id.counter >= point
    }

    /// `op` (with causal past `cut`) placed without equivocated elements: an equivocated
    /// origin-right becomes the end; an equivocated origin-left becomes the last element before
    /// the origin-right that is in the past and not equivocated (or the start), so a reply to
    /// an equivocator's message stays where its author put it, after the messages it saw.
    /// Re-anchoring moves elements placed on an equivocator's (and those placed on them), so two
    /// origins its author saw in order may no longer be: then the op keeps its origin-left and
    /// ends at the end, as it does when its origin-right is equivocated.
    /// - Complexity: O(log n) unless an origin is equivocated; then O(n) in the sequence.
    private func reanchored(_ op: ConversationOp, cut: CausalPast) -> ConversationOp {
        func anchors<Element>(_ left: OpID?, _ right: OpID?, in sequence: SequenceCRDT<Element>) -> (OpID?, OpID?) {
            let right = right.flatMap { isEquivocated($0) ? nil : $0 }
            guard let left, isEquivocated(left) else {
                if let left, let right, cut.contains(left), cut.contains(right), sequence.contains(from: left),
                   sequence.contains(from: right), !sequence.canPlace(originLeft: left, originRight: right) {
                    return (left, nil)
                }
                return (left, right)
            }
            return (sequence.lastElement(before: right) { cut.contains($0) && !isEquivocated($0) }, right)
        }
        switch op {
        case .postMessage(var post):
            (post.originLeft, post.originRight) = anchors(post.originLeft, post.originRight, in: document.messageList)
            return .postMessage(post)
        case .insertText(var insert):
            guard let origins = document.messages.readingBody(of: insert.message, {
                anchors(insert.originLeft, insert.originRight, in: $0)
            }) else { return op }
            (insert.originLeft, insert.originRight) = origins
            return .insertText(insert)
        default:
            return op
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

    /// Accepted public joins that `admitter` vouched for with an `admittedAt` in the hour before
    /// `now` (or later).
    /// - Complexity: O(g) in the governance operations.
    public func publicAdmissions(by admitter: ReplicaID, inHourBefore now: UInt64) -> Int {
        let floor = now >= SharingLimits.hour ? now - SharingLimits.hour : 0
        return governance.acceptedInOrder.count { op in
            if case .join(.publicJoin(let admission?)) = op.kind { return admission.admitter == admitter && admission.admittedAt > floor }
            return false
        }
    }

    /// Why `batch` may not enter the log at all, or nil when it may be stored (and then judged
    /// op by op). A batch is stored when its author is a member in the batch's causal past, or
    /// when it is the genesis, or a lone join that the past admits, or a lone decline by the
    /// invitee of a direct invitation recorded (and not yet declined) in the past. Everything
    /// else a non-member signs is neither stored nor relayed, so strangers can make a replica
    /// keep at most one decline per invitation addressed to them and the joins their tokens and
    /// admissions allow. Judged on the causal past alone (concurrent removals do not count), so
    /// every replica decides alike and no honest batch that built on a stored one is left
    /// waiting.
    /// - Complexity: O(1) when the batch's past holds every governance operation; else one
    ///   resolution of the governance operations in that past.
    public mutating func storageRefusal(of batch: OperationBatch) -> StorageRefusal? {
        guard let first = batch.operations.first else { return .notAMember }
        let firstID = OpID(replica: batch.author, counter: batch.firstCounter)
        if case .genesis = first { return nil }
        let cut = batch.causalPast(of: firstID)
        let past = governance.coversAll(cut) ? governance : pastResolution(cut)
        if past.final.permissions[batch.author] != nil { return nil }
        guard batch.operations.count == 1, let candidate = governanceOp(firstID, first, batch) else { return .notAMember }
        switch candidate.kind {
        case .join:
            var trial = past
            trial.add([candidate])
            return trial.accepted.contains(firstID) ? nil : .inadmissibleJoin
        case .declineInvite(let tokenID):
            guard let link = past.sharing.links[tokenID], link.record.invitee == batch.author, !link.declined else {
                return .notAMember
            }
            return nil
        default:
            return .notAMember
        }
    }

    /// The resolution of the governance operations in `cut` alone. Batches made at about the
    /// same time share that set, so the last few resolutions are kept by the ids they resolved;
    /// a new set usually extends one of them by a few operations, which are added to it.
    /// - Complexity: O(g) to find the set; when it is new, O(cached · g) to find the largest
    ///   kept subset, and adding the rest to it (see ``GovernanceResolution/add(_:)``).
    private mutating func pastResolution(_ cut: CausalPast) -> GovernanceResolution {
        var key: [OpID] = []
        for index in governanceOps.indices where cut.contains(governanceOps[index].id) { key.append(governanceOps[index].id) }
        if let cached = pastResolutions[key] { return cached }
        let ops = governanceOps.filter { cut.contains($0.id) }
        let base = pastResolutions.values
            .filter { $0.ordered.count < ops.count && $0.ordered.allSatisfy { cut.contains($0.id) } }
            .max { $0.ordered.count < $1.ordered.count }
        var resolution = base ?? GovernanceResolution()
        let resolved = Set(resolution.ordered.map(\.id))
        resolution.add(ops.filter { !resolved.contains($0.id) })
        if pastResolutions.count >= 16 { pastResolutions.removeAll(keepingCapacity: true) }
        pastResolutions[key] = resolution
        return resolution
    }

    /// The number of accepted removals.
    public var revocationCount: Int { governance.removals.values.reduce(0) { $0 + $1.count } }

    // MARK: Internals

    /// The governance operation `op` of `batch` stands for, with its token and admission
    /// verified; nil for content operations.
    private mutating func governanceOp(_ id: OpID, _ op: ConversationOp, _ batch: OperationBatch) -> GovernanceOp? {
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
            if let known = lastJoinVerified, known.token == token, known.admission == admission, known.joiner == batch.author {
                kind = .join(known.request)
            } else {
                let request = verifiedJoin(token: token, admission: admission, joiner: batch.author)
                lastJoinVerified = VerifiedJoin(token: token, admission: admission, joiner: batch.author, request: request)
                kind = .join(request)
            }
        default: return nil
        }
        return GovernanceOp(id: id, kind: kind, cut: batch.cut(of: id), timestamp: batch.timestamp)
    }

    /// A join's token and admission as verified for this conversation and joiner.
    private struct VerifiedJoin {
        let token: [UInt8]
        let admission: [UInt8]
        let joiner: ReplicaID
        let request: JoinRequest
    }

    /// Verifies a join's token and admission: what counts is only what was signed for this
    /// conversation, this token and this joiner (so a snapshot, which keeps only what counts,
    /// judges alike).
    /// - Complexity: up to two Ed25519 verifications.
    private func verifiedJoin(token: [UInt8], admission: [UInt8], joiner: ReplicaID) -> JoinRequest {
        func admissionFitting(_ tokenID: [UInt8]) -> JoinAdmission? {
            guard !admission.isEmpty, let verified = verifyAdmission(admission) else { return nil }
            return verified.conversation == id && verified.tokenID == tokenID && verified.joiner == joiner ? verified : nil
        }
        if token.isEmpty { return .publicJoin(admission: admissionFitting(JoinAdmission.publicTokenID)) }
        guard let grant = verifyInvite(token), grant.conversation == id else { return .invalidToken }
        return .token(grant, admission: admissionFitting(grant.tokenID))
    }

    /// True when the new resolution changes the validity of operations already applied.
    /// Operations whose verdict changed without touching any content operation's (a sharing
    /// operation, or the join of a key that signed nothing after it, as a flood of joins does)
    /// only get their exclusion entry updated.
    private mutating func reachesBack(from before: GovernanceVerdicts, fresh: Set<OpID>) -> Bool {
        let flipped = before.accepted.symmetricDifference(governance.accepted).subtracting(fresh)
        if !flipped.isEmpty {
            for op in governanceOps where flipped.contains(op.id) {
                switch op.kind {
                case .createLink, .revokeLink, .declineInvite, .requestAccess: continue
                case .join where clock[op.id.replica] <= op.id.counter &+ 1: continue
                default: return true
                }
            }
            for id in flipped { excluded[id] = governance.rejected[id] }
        }
        for (member, removals) in governance.removals {
            for removal in removals where !(before.removals[member] ?? []).contains(removal) {
                // Ops of the member this removal did not see, already received?
                if clock[member] > removal.cut[member] { return true }
            }
        }
        for (member, changes) in governance.permissionChanges {
            for change in changes where !(before.permissionChanges[member] ?? []).contains(change) {
                // A change caps the member's ops it did not see: were any received already?
                if clock[member] > change.cut[member] { return true }
            }
        }
        return false
    }

    /// The verdicts of a resolution that ``reachesBack(from:fresh:)`` compares with the next one.
    private struct GovernanceVerdicts {
        let accepted: Set<OpID>
        let removals: [ReplicaID: [GovernanceOp]]
        let permissionChanges: [ReplicaID: [GovernanceOp]]

        init(_ resolution: GovernanceResolution) {
            accepted = resolution.accepted
            removals = resolution.removals
            permissionChanges = resolution.permissionChanges
        }
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
        let rights = uniformRights(of: batch)
        for (id, original) in identified {
            if isEquivocated(id) {
                excluded[id] = .equivocated
                result.excluded += 1
                continue
            }
            let op = equivocators.isEmpty ? original : reanchored(original, cut: batch.causalPast(of: id))
            if let reason = judge(id, op, batch, timestamp: timestamp, rights: rights) {
                excluded[id] = reason
                result.excluded += 1
                // Well-formed but not allowed: others who saw it may have anchored on it.
                if !reason.isStructural { document.keepInvisibly(op, id: id) }
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

    /// Why `op` is excluded, or nil when it is valid. Judged only against the operation's causal
    /// past, which is here by construction, so every replica reaches the same verdict whatever
    /// the arrival order: first its references (structure), then its author's rights.
    private func judge(_ id: OpID, _ op: ConversationOp, _ batch: OperationBatch, timestamp: UInt64,
                       rights: BatchRights? = nil) -> ExclusionReason? {
        if op.isGovernance { return governance.rejected[id] }
        let cut = batch.causalPast(of: id)
        if let reason = referenceProblem(of: op, cut: cut) { return reason }
        guard let permission = rights.map({ $0.permission }) ?? governance.permission(of: id.replica, for: id, cut: cut) else {
            return governance.isExcludedByRevocation(id, cut: cut) ? .revoked : .notPermitted
        }
        var messageAuthor: ReplicaID?
        switch op {
        case .insertText(let insert): messageAuthor = insert.message.replica
        case .deleteText(let delete): messageAuthor = delete.message.replica
        case .deleteMessage(let message): messageAuthor = message.replica
        default: break
        }
        let needed = ContentRules.requiredPermission(for: op, by: id.replica, messageAuthor: messageAuthor)
        guard permission >= needed else { return .notPermitted }
        let settings = rights?.settings ?? governance.settings(cut: cut)
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

    /// Nil when an insert with these origins can be placed in `sequence`; `unknownTarget` when an
    /// origin is not there, `invalid` when they are out of order.
    private func placementProblem<Element>(_ left: OpID?, _ right: OpID?, in sequence: SequenceCRDT<Element>)
        -> ExclusionReason? {
        if sequence.canPlace(originLeft: left, originRight: right) { return nil }
        let present = (left.map { sequence.contains(from: $0) } ?? true) && (right.map { sequence.contains(from: $0) } ?? true)
        return present ? .invalid : .unknownTarget
    }

    /// The rights every operation of `batch` has, when they are the same for all of them: the
    /// batch holds no governance operation and no removal concerns its author. Its operations
    /// share the batch's causal past, and a permission change that saw one of them saw the whole
    /// batch, so the author's level (capped by concurrent changes) and the settings are the
    /// first operation's. Nil otherwise (judged op by op).
    struct BatchRights {
        var permission: Permission?
        var settings: ConversationSettings
    }

    /// - Complexity: O(governance operations about the author, and settings changes), once per
    ///   batch instead of once per operation.
    private func uniformRights(of batch: OperationBatch) -> BatchRights? {
        guard governance.removals[batch.author] == nil, !batch.operations.contains(where: \.isGovernance) else { return nil }
        let first = OpID(replica: batch.author, counter: batch.firstCounter)
        let cut = batch.causalPast(of: first)
        return BatchRights(permission: governance.permission(of: batch.author, for: first, cut: cut),
                           settings: governance.settings(cut: cut))
    }

    /// Why the elements `op` names do not hold in its causal past `cut`: a target or origin that
    /// is not in the past or not here (`unknownTarget`), or origins in the wrong order
    /// (`invalid`). Nil when they hold. Everything in the past was applied (or excluded) before,
    /// so the answer is the same on every replica.
    /// - Complexity: O(log n).
    private func referenceProblem(of op: ConversationOp, cut: CausalPast) -> ExclusionReason? {
        func inPast(_ id: OpID?) -> Bool { id.map(cut.contains) ?? true }
        switch op {
        case .postMessage(let post):
            guard inPast(post.originLeft), inPast(post.originRight) else { return .unknownTarget }
            return placementProblem(post.originLeft, post.originRight, in: document.messageList)
        case .insertText(let insert):
            guard cut.contains(insert.message), inPast(insert.originLeft), inPast(insert.originRight),
                  let problem = document.messages.readingBody(of: insert.message, {
                      placementProblem(insert.originLeft, insert.originRight, in: $0)
                  }) else { return .unknownTarget }
            return problem
        case .deleteText(let delete):
            guard delete.count > 0, UInt64(delete.target.counter) + UInt64(delete.count) <= UInt64(UInt32.max) else {
                return .invalid
            }
            let last = OpID(replica: delete.target.replica, counter: delete.target.counter + delete.count - 1)
            guard cut.contains(delete.message), cut.contains(last),
                  document.messages.readingBody(of: delete.message, { $0.contains(from: delete.target, count: delete.count) }) == true
            else { return .unknownTarget }
            return nil
        case .deleteMessage(let message):
            return cut.contains(message) && document.messages[message] != nil ? nil : .unknownTarget
        default:
            return nil
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
    /// When this replica may post again (ms since the Unix epoch, on the signed clock) if a post
    /// at `timestamp` would exceed the rate: the moment enough of its posts of the last minute
    /// leave the window. Nil when it may post at `timestamp`.
    /// - Complexity: O(posts in the window).
    public func nextPostAllowed(at timestamp: UInt64) -> UInt64? {
        let limit = Int(document.settings.messagesPerMinute)
        let window = (recentPosts[localReplica] ?? []).filter { timestamp < 60_000 || $0 > timestamp - 60_000 }.sorted()
        guard limit > 0, window.count >= limit else { return nil }
        return window[window.count - limit] &+ 60_000
    }

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
            var scratch = self
            guard let governed = scratch.governanceOp(id, op, batch) else { return .invalid }
            var trial = governance
            trial.add([governed])
            return trial.rejected[id]
        default:
            return judge(id, op, batch, timestamp: timestamp)
        }
    }
}
