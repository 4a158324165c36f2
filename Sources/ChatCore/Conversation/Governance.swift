/// Why an operation is excluded from the materialized conversation. It stays in the log.
public enum ExclusionReason: String, Sendable, Hashable, CaseIterable {
    /// The author lacked the permission the operation needs, in the operation's causal past.
    case notPermitted = "not_permitted"
    /// The author was revoked by a removal this operation was not in the causal past of.
    case revoked = "revoked"
    /// Removing or demoting the last admin.
    case lastAdmin = "last_admin"
    /// A join whose token is invalid, for another conversation, issued by a non-admin, expired
    /// or used up; revoked, declined or for another invitee (by a record in the join's past).
    case invalidInvite = "invalid_invite"
    /// A message over the size limit, or a link label or access-request note over 256 UTF-8 bytes.
    case tooLarge = "too_large"
    /// A display name that is empty, over 64 characters or has control characters.
    case invalidName = "invalid_name"
    /// Over the author's message rate, link rate (20 per hour), access-request rate (5 per
    /// hour) or decline rate (20 per hour), judged on signed timestamps.
    case rateLimited = "rate_limited"
    /// It refers to a message, character or origin that is not in its causal past (or that was
    /// never valid there).
    case unknownTarget = "unknown_target"
    /// A second genesis, an insert whose origins are in the wrong order, an operation the
    /// document could not apply, or a sharing operation with a token id that is not 16 bytes
    /// (or a second record of the same id).
    case invalid = "invalid"
    /// Signed by an author that forked its own history (two different batches for the same
    /// counters), at or after the fork point: excluded on every branch (see
    /// ``Conversation/noteEquivocation(by:from:)``).
    case equivocated = "equivocated"

    /// True when the operation is ill-formed in its causal past (it names what is not there,
    /// or is not a valid operation at all), as opposed to well-formed but not allowed. A
    /// well-formed insert that is not allowed is still kept invisibly, because others may have
    /// anchored on it before it was excluded.
    public var isStructural: Bool {
        switch self {
        case .unknownTarget, .invalid, .equivocated: true
        case .notPermitted, .revoked, .lastAdmin, .invalidInvite, .tooLarge, .invalidName, .rateLimited: false
        }
    }
}

/// An operation that changes who may do what: genesis, grants, removals, settings, joins.
/// These are few; all of them are kept in memory and resolved together.
public struct GovernanceOp: Sendable, Hashable {
    /// Indirect: an operation is copied into several per-member lists, and a boxed payload
    /// copies with one retain instead of a few hundred bytes and a retain per array.
    public indirect enum Kind: Sendable, Hashable {
        case genesis(title: String, isPublic: Bool)
        case setPermission(member: ReplicaID, permission: Permission)
        case removeMember(member: ReplicaID)
        case setSettings(ConversationSettings)
        /// A join: with no token (public conversations), a verified grant, or a token that did
        /// not verify (always rejected, kept so every replica rejects it alike).
        case join(JoinRequest)
        /// A share link or direct invitation recorded by an admin.
        case createLink(InviteRecord)
        /// A token id revoked by an admin.
        case revokeLink(tokenID: [UInt8])
        /// A direct invitation declined (counts only when signed by its invitee).
        case declineInvite(tokenID: [UInt8])
        /// A request for a permission, kept for the admins.
        case requestAccess(permission: Permission, note: String)
    }

    public var id: OpID
    public var kind: Kind
    /// The causal past of the operation.
    public var cut: VectorClock
    /// The author's signed timestamp (ms).
    public var timestamp: UInt64
    /// Sum of the cut's entries: a linear extension of causality (if a happened before b,
    /// a's sum is smaller), so sorting by (sum, id) is a deterministic causal order.
    public var depth: UInt64

    public init(id: OpID, kind: Kind, cut: VectorClock, timestamp: UInt64) {
        self.id = id
        self.kind = kind
        self.cut = cut
        self.timestamp = timestamp
        self.depth = cut.entries.reduce(0) { $0 + UInt64($1.count) }
    }

    /// The resolution order: by depth, then id (a deterministic linear extension of causality).
    static func precedes(_ lhs: GovernanceOp, _ rhs: GovernanceOp) -> Bool {
        (lhs.depth, lhs.id) < (rhs.depth, rhs.id)
    }

    /// True when `self` is in the causal past of `op` (or is `op`).
    func isInPast(of op: OpID, cut: VectorClock) -> Bool { id == op || cut.contains(id) }

    /// True when this removal or demotion below admin takes away the admin rights `other` (an
    /// admin's operation) needed: it is about `other`'s author and concurrent with it.
    func overrides(_ other: GovernanceOp) -> Bool {
        guard id != other.id, subject == other.id.replica, !cut.contains(other.id), !other.cut.contains(id) else {
            return false
        }
        switch kind {
        case .removeMember: return true
        case .setPermission(_, let level): return level < .admin
        default: return false
        }
    }

    /// True for a removal.
    var isRemoval: Bool {
        if case .removeMember = kind { true } else { false }
    }

    /// True for a permission change (`setPermission`).
    var isPermissionChange: Bool {
        if case .setPermission = kind { true } else { false }
    }

    /// True for the operations that change their ``subject``'s permission: genesis, joins,
    /// permission changes and removals.
    var changesPermission: Bool {
        switch kind {
        case .genesis, .join, .setPermission, .removeMember: true
        case .setSettings, .createLink, .revokeLink, .declineInvite, .requestAccess: false
        }
    }

    /// `member`'s permission after this operation, given `level` before it: the one rule the
    /// membership fold and the per-member walks share. Joining never lowers a permission held.
    func permission(of member: ReplicaID, after level: Permission?) -> Permission? {
        guard changesPermission, subject == member else { return level }
        switch kind {
        case .setPermission(_, let permission): return permission
        case .removeMember: return nil
        case .join(let request):
            var granted = Permission.view
            if case .token(let grant, _) = request { granted = grant.permission }
            return max(level ?? granted, granted)
        default: return .admin // genesis
        }
    }

    /// Applies a genesis's title and mode, or a settings change, to `state`.
    func applySettings(to state: inout MembershipState) {
        switch kind {
        case .genesis(let title, let isPublic):
            state.title = title
            state.settings.isPublic = isPublic
        case .setSettings(let settings): state.settings = settings
        default: break
        }
    }

    /// The member a removal or permission change is about; the author for other operations.
    var subject: ReplicaID {
        switch kind {
        case .removeMember(let member), .setPermission(let member, _): member
        default: id.replica
        }
    }
}

extension GovernanceOp.Kind {
    /// True for the operations only an admin may make.
    var needsAdmin: Bool {
        switch self {
        case .setPermission, .removeMember, .setSettings, .createLink, .revokeLink: true
        case .genesis, .join, .declineInvite, .requestAccess: false
        }
    }
}

/// How a join asks to be admitted.
public enum JoinRequest: Sendable, Hashable {
    /// A join to a public conversation, with the verified admission of the member it reached (nil:
    /// none, or one that did not verify or fit: such a join is refused).
    case publicJoin(admission: JoinAdmission?)
    /// A verified token, with the admitting member's verified admission (nil: none, or one that
    /// did not verify: such a join is refused).
    case token(InviteGrant, admission: JoinAdmission?)
    case invalidToken
}

/// Members, permissions and settings at some point.
public struct MembershipState: Sendable, Hashable {
    public var permissions: [ReplicaID: Permission] = [:]
    public var settings = ConversationSettings.default
    public var title = ""

    public var adminCount: Int { permissions.values.count { $0 == .admin } }

    /// Applies one accepted operation in place.
    /// - Complexity: O(1).
    mutating func apply(_ op: GovernanceOp) {
        op.applySettings(to: &self)
        if op.changesPermission { permissions[op.subject] = op.permission(of: op.subject, after: permissions[op.subject]) }
    }
}

/// The deterministic resolution of all governance operations: which are accepted, which
/// removals are final (and so exclude the removed member's concurrent operations), and the
/// resulting membership.
///
/// Operations are processed in causal order (by depth, then id). An operation is accepted when
/// its author held `admin` in its causal past (joins: a valid, unexpired, not used-up token from
/// someone admin in the join's past, or a public conversation) and the author is not revoked.
/// Revocation wins over concurrency: once a removal of U is accepted, every operation of U
/// outside the removal's causal past is excluded, unless U was re-admitted by an operation that
/// saw the removal and is itself in that operation's past. Accepting such a removal can exclude
/// operations processed before it, so resolution restarts with the removal committed; each
/// restart commits one more removal, so it ends after at most as many passes as there are
/// removals. Mutual concurrent removals resolve to the one first in causal order.
///
/// Demotion wins over concurrency as well: an accepted `setPermission` of U caps every operation
/// of U concurrent with it (neither in the other's causal past) at the level it sets, so a
/// demoted member cannot keep old rights by declaring a past that leaves the demotion out.
/// Accepting a demotion that caps a governance operation already accepted restarts resolution
/// with the demotion committed, exactly as a removal does; mutual concurrent demotions of two
/// admins resolve to the one first in causal order.
///
/// Sharing rules (the order is the same causal order, so every replica agrees):
/// - `createLink` needs `admin` in its past, a 16-byte token id not recorded before (else
///   `invalid`), a label of at most 256 UTF-8 bytes (`tooLarge`), and at most 20 accepted
///   `createLink`s by the same author in the hour of signed timestamps before it (`rateLimited`).
/// - `revokeLink` needs `admin` in its past. A join with a revoked token id is refused
///   (`invalidInvite`) only when the revocation is in the join's causal past: a revocation
///   concurrent with a join does not undo that admission (revoke the member for that).
/// - A token join must carry the admitting member's signed ``JoinAdmission``: for this
///   conversation, joiner and token id, by someone else who is a member in the join's past.
///   Expiry is judged on the admission's time (the admitting member's clock, not the joiner's),
///   the use limit on the uses the admitting member saw (fewer than the limit) and on the joins
///   accepted before it in this order (fewer than the limit, so concurrent admissions of the
///   last use admit one). The join's past must hold at least as many joins with the token id as
///   the admission says were seen, so a joiner cannot sort its join ahead of those joins by
///   hiding them from its causal past.
/// - A token join needs its link's record (`createLink` with the token id) in its causal past,
///   so every token that admits anyone is listed, counted, rate-limited and revocable; the join
///   is held to the record too: its invitee (if set, only that key may join), its expiry and use
///   limit (the stricter of token and record, judged as above), and a decline by the invitee in
///   the join's past.
/// - `declineInvite` is accepted from anyone (even a non-member), at most 20 per author per hour
///   (`rateLimited`), and counts only when its author is the invitee of the record with that
///   token id.
/// - `requestAccess` is accepted from anyone not revoked, with a note of at most 256 UTF-8 bytes
///   (`tooLarge`) and at most 5 accepted requests per author per hour (`rateLimited`).
public struct GovernanceResolution: Sendable {
    public private(set) var ordered: [GovernanceOp] = []
    public private(set) var accepted: Set<OpID> = []
    public private(set) var rejected: [OpID: ExclusionReason] = [:]
    /// Accepted removals, by removed member.
    public private(set) var removals: [ReplicaID: [GovernanceOp]] = [:]
    /// Accepted permission changes (`setPermission`), by member: each caps the member's
    /// operations concurrent with it (see ``capped(_:of:inPast:by:)``).
    public private(set) var permissionChanges: [ReplicaID: [GovernanceOp]] = [:]
    /// The membership after every accepted operation.
    public private(set) var final = MembershipState()
    /// Accepted operations in causal order.
    public private(set) var acceptedInOrder: [GovernanceOp] = []
    /// Links, invitations and access requests, built from the accepted operations on each
    /// call (readers ask after a commit; resolution itself never needs it).
    /// - Complexity: O(g).
    public var sharing: SharingState { SharingState(accepted: acceptedInOrder) }
    /// The highest governance counter per replica (to tell when a cut covers all of them).
    private var highest: [ReplicaID: UInt32] = [:]

    public init() {}

    public init(resolving ops: [GovernanceOp]) {
        ordered = ops.sorted(by: GovernanceOp.precedes)
        for op in ordered { noteHighest(op) }
        resolveFromScratch()
    }

    /// Adds operations. When they come after everything known in causal order (the usual case:
    /// new operations arrive after old ones) and commit no new removal, resolution continues
    /// from where it was. When they come earlier and no change is committed, it resumes from
    /// the last saved pass before them (see ``PassCheckpoints``). Otherwise it starts over.
    /// - Complexity: O(log g + ops stepped since the resumed pass) usually; O(passes · g) steps
    ///   when starting over.
    public mutating func add(_ ops: [GovernanceOp]) {
        let sorted = ops.sorted(by: GovernanceOp.precedes)
        guard let first = sorted.first else { return }
        for op in sorted { noteHighest(op) }
        let known = ordered.count
        let insertion = ordered.partitioningIndex { GovernanceOp.precedes(first, $0) }
        ordered.merge(sorted, from: insertion, by: GovernanceOp.precedes)
        var pass: Pass
        var stepped: Int
        if insertion == known {
            (pass, stepped) = (lastPass, known)
            // Held once, so stepping on extends its containers in place instead of copying them.
            lastPass = Pass(committed: [:])
        } else if committed.isEmpty, let resumed = checkpoints.resume(atMost: insertion) {
            (pass, stepped) = resumed
        } else {
            resolveFromScratch()
            return
        }
        // One operation inserted before others: once it is judged, the verdicts after it may
        // not need stepping again (see ``wholePass(inserting:judged:before:)``).
        var skipsTail = sorted.count == 1 && insertion < known
        while stepped < ordered.count {
            if committed.isEmpty { checkpoints.save(pass, stepped: stepped) }
            let op = ordered[stepped]
            pass.step(op)
            stepped += 1
            if let newChange = pass.reachingBack.last, newChange.id == op.id, committed[op.id] == nil {
                // A removal or demotion commits: it may exclude operations already processed.
                resolveFromScratch()
                return
            }
            if skipsTail, op.id == first.id {
                skipsTail = false
                if let whole = wholePass(inserting: op, judged: pass, before: ordered[stepped...]) {
                    adopt(whole)
                    return
                }
            }
        }
        adopt(pass)
    }

    /// The pass over every operation after inserting `op` (``lastPass`` with `op` in it), when
    /// `op` cannot change the verdict of any operation after it in the order, `tail`; `judged` is
    /// the pass just after `op`. Nil when the tail must be stepped again. That holds exactly when:
    /// - `op` is rejected: a rejected operation changes nothing but its own verdict;
    /// - or `op` is an accepted public join of a joiner that is not a creator and that no
    ///   operation of `tail` concerns (as author, subject or admitter), and each public join of
    ///   `tail` accepted with the same admitting member stays under that member's hourly limit
    ///   with `op` counted too. Such a join changes only its joiner's entries and that member's
    ///   admission times, and grants `view`, so no last-admin verdict changes either; counts only
    ///   grow, so a join refused stays refused.
    /// A flood of public joins arriving out of order then costs no step of the tail.
    /// - Complexity: O(tail + tail joins of the admitting member × its admissions), and O(g) to
    ///   insert into the accepted list.
    private func wholePass(inserting op: GovernanceOp, judged: Pass, before tail: ArraySlice<GovernanceOp>) -> Pass? {
        var whole = lastPass
        if let reason = judged.rejected[op.id] {
            whole.rejected[op.id] = reason
            return whole
        }
        guard case .join(.publicJoin(let admission?)) = op.kind, !judged.creators.contains(op.id.replica) else { return nil }
        let joiner = op.id.replica
        let admitter = admission.admitter
        // The admitting member's accepted public joins in the tail, by their admission times.
        var laterAdmissions: [UInt64] = []
        for later in tail {
            if later.id.replica == joiner || later.subject == joiner { return nil }
            guard case .join(let request) = later.kind else { continue }
            switch request {
            case .publicJoin(let other?):
                if other.admitter == joiner { return nil }
                if other.admitter == admitter, whole.acceptedIDs.contains(later.id) { laterAdmissions.append(other.admittedAt) }
            case .token(let grant, let other):
                if grant.issuer == joiner || other?.admitter == joiner { return nil }
            case .publicJoin(nil), .invalidToken:
                continue
            }
        }
        // The member's admission times are in the order accepted: those before `op`, then the tail's.
        var times = whole.ledger.publicAdmissionTimes[admitter] ?? []
        let position = times.count - laterAdmissions.count
        times.insert(admission.admittedAt, at: position)
        for (offset, admittedAt) in laterAdmissions.enumerated() {
            let before = times[..<(position + 1 + offset)]
            guard SharingLedger.count(before, inHourBefore: admittedAt) < SharingLimits.publicAdmissionsPerHour else { return nil }
        }
        whole.accepted.insert(op, at: whole.accepted.partitioningIndex { GovernanceOp.precedes(op, $0) })
        whole.acceptedIDs.insert(op.id)
        whole.ledger.publicAdmissionTimes[admitter] = times
        whole.acceptedAbout[joiner, default: []].append(op)
        whole.running.apply(op)
        return whole
    }

    /// Removals committed so far (see the type's documentation).
    private var committed: [OpID: GovernanceOp] = [:]
    private var lastPass = Pass(committed: [:])
    /// Saved states of the pass while no change is committed.
    private var checkpoints = PassCheckpoints()

    private mutating func noteHighest(_ op: GovernanceOp) {
        if op.id.counter >= (highest[op.id.replica] ?? 0) { highest[op.id.replica] = op.id.counter }
    }

    /// Resolves `ordered` pass after pass, committing one change that reaches back per pass.
    /// The first pass (nothing committed) saves checkpoints for later out-of-order additions.
    /// - Complexity: O(passes · g) steps.
    private mutating func resolveFromScratch() {
        committed = [:]
        checkpoints = PassCheckpoints()
        while true {
            var pass = Pass(committed: committed)
            for (stepped, op) in ordered.enumerated() {
                if committed.isEmpty { checkpoints.save(pass, stepped: stepped) }
                pass.step(op)
            }
            // Commit first a change no other open change overrides (a change of its author's
            // rights concurrent with it); among mutual ones, the first in causal order.
            let open = pass.reachingBack.filter { committed[$0.id] == nil }
            if let next = open.first(where: { change in !open.contains { $0.overrides(change) } }) ?? open.first {
                committed[next.id] = next
                checkpoints = PassCheckpoints()
                continue
            }
            adopt(pass)
            break
        }
    }

    private mutating func adopt(_ pass: Pass) {
        lastPass = pass
        accepted = pass.acceptedIDs
        rejected = pass.rejected
        acceptedInOrder = pass.accepted
        removals = Dictionary(grouping: pass.removals) { $0.subject }
        permissionChanges = pass.changes
        final = pass.running
    }

    /// One pass in causal order with `committed` removals in force from the start.
    struct Pass: Sendable {
        var accepted: [GovernanceOp] = []
        var acceptedIDs: Set<OpID> = []
        var rejected: [OpID: ExclusionReason] = [:]
        var removals: [GovernanceOp] = []
        /// Accepted operations that need admin rights, by author (what a demotion may cap).
        var adminActs: [ReplicaID: [GovernanceOp]] = [:]
        /// Accepted permission changes, by member.
        var changes: [ReplicaID: [GovernanceOp]] = [:]
        /// Accepted removals, and accepted demotions that cap an operation accepted before
        /// them: the changes that must be committed for a restart.
        var reachingBack: [GovernanceOp] = []
        var ledger = SharingLedger()
        /// The state after everything accepted so far.
        var running = MembershipState()
        let committed: [OpID: GovernanceOp]
        let committedByMember: [ReplicaID: [GovernanceOp]]

        init(committed: [OpID: GovernanceOp]) {
            self.committed = committed
            committedByMember = Dictionary(grouping: committed.values.filter(\.isRemoval)) { $0.subject }
            committedChanges = Dictionary(grouping: committed.values.filter(\.isPermissionChange)) { $0.subject }
        }

        let committedChanges: [ReplicaID: [GovernanceOp]]

        /// Accepted operations that change a member's permission (genesis, joins, permission
        /// changes, removals), by that member; and those that change settings or title.
        var acceptedAbout: [ReplicaID: [GovernanceOp]] = [:]
        var settingsChanges: [GovernanceOp] = []
        /// The authors of accepted genesis operations (one, unless a fork made more).
        var creators: [ReplicaID] = []

        /// The membership in `op`'s causal past as far as judging `op` reads it: settings, title
        /// and the permissions of the members `op` concerns (its author, a join's admitter and
        /// token issuer, the creator). Each entry equals folding every accepted operation in the
        /// past, since an operation changes only its own subject's entry.
        /// - Complexity: O(c + Σ accepted operations about those members), not O(accepted).
        func pastState(for op: GovernanceOp) -> MembershipState {
            let inPast = { (other: GovernanceOp) in other.isInPast(of: op.id, cut: op.cut) }
            var past = MembershipState()
            (past.settings, past.title) = GovernanceResolution.settings(after: settingsChanges, inPast: inPast)
            past.permissions.reserveCapacity(3 + creators.count)
            func read(_ key: ReplicaID) {
                guard past.permissions[key] == nil else { return }
                past.permissions[key] = GovernanceResolution.permission(of: key, after: acceptedAbout[key] ?? [], inPast: inPast)
            }
            read(op.id.replica)
            for creator in creators { read(creator) }
            switch op.kind {
            case .join(.publicJoin(let admission?)): read(admission.admitter)
            case .join(.token(let grant, let admission)):
                read(grant.issuer)
                if let admission { read(admission.admitter) }
            default: break
            }
            return past
        }

        mutating func step(_ op: GovernanceOp) {
            let past = pastState(for: op)
            let revokedBy = (committedByMember[op.id.replica] ?? []) + removals.filter { $0.subject == op.id.replica }
            if committed[op.id] == nil,
               GovernanceResolution.isRevoked(op.id, cut: op.cut, by: revokedBy, readmissions: accepted) {
                rejected[op.id] = .revoked
                return
            }
            // A permission change concurrent with the op caps its author's level there.
            var judged = past
            if let level = past.permissions[op.id.replica] {
                let changes = (committedChanges[op.id.replica] ?? []) + (changes[op.id.replica] ?? [])
                judged.permissions[op.id.replica] =
                    GovernanceResolution.capped(level, of: op.id, inPast: { op.cut.contains($0) }, by: changes)
            }
            // A committed change stays accepted: later passes only add exclusions.
            let verdict = committed[op.id] != nil ? nil
                : GovernanceResolution.judge(op, past: judged, ledger: ledger, after: running)
            if let reason = verdict {
                rejected[op.id] = reason
                return
            }
            accepted.append(op)
            acceptedIDs.insert(op.id)
            ledger.note(op)
            switch op.kind {
            case .genesis:
                creators.append(op.id.replica)
                settingsChanges.append(op)
            case .setSettings: settingsChanges.append(op)
            default: break
            }
            if op.changesPermission { acceptedAbout[op.subject, default: []].append(op) }
            running.apply(op)
            if op.kind.needsAdmin { adminActs[op.id.replica, default: []].append(op) }
            if op.isRemoval {
                removals.append(op)
                reachingBack.append(op)
            }
            if op.isPermissionChange {
                changes[op.subject, default: []].append(op)
                let capsEarlier = (adminActs[op.subject] ?? []).contains { earlier in
                    earlier.id != op.id && !op.cut.contains(earlier.id) && !earlier.cut.contains(op.id)
                }
                if capsEarlier { reachingBack.append(op) }
            }
        }
    }

    /// Why `op` is not allowed given the state in its past (nil: allowed). `after` is the state
    /// with every operation accepted so far, for the last-admin rule.
    static func judge(_ op: GovernanceOp, past: MembershipState, ledger: SharingLedger,
                      after: MembershipState) -> ExclusionReason? {
        let author = op.id.replica
        switch op.kind {
        case .genesis:
            return op.id.counter == 0 && past.permissions.isEmpty ? nil : .invalid
        case .setPermission(let member, let permission):
            guard past.permissions[author] == .admin else { return .notPermitted }
            if permission != .admin, after.permissions[member] == .admin, after.adminCount <= 1 { return .lastAdmin }
            return nil
        case .removeMember(let member):
            guard past.permissions[author] == .admin else { return .notPermitted }
            if after.permissions[member] == .admin, after.adminCount <= 1 { return .lastAdmin }
            return nil
        case .setSettings:
            return past.permissions[author] == .admin ? nil : .notPermitted
        case .join(.publicJoin(let admission)):
            guard past.settings.isPublic, let admission, ledger.admitsPublic(op, admission: admission, past: past)
            else { return .invalidInvite }
            return nil
        case .join(.invalidToken):
            return .invalidInvite
        case .join(.token(let grant, let admission)):
            guard past.permissions[grant.issuer] == .admin, let admission,
                  ledger.admits(op, grant: grant, admission: admission, past: past)
            else { return .invalidInvite }
            return nil
        case .createLink(let record):
            guard past.permissions[author] == .admin else { return .notPermitted }
            guard record.tokenID.count == InviteRecord.tokenIDBytes, record.tokenID != JoinAdmission.publicTokenID,
                  ledger.records[record.tokenID] == nil else { return .invalid }
            guard record.label.utf8.count <= InviteRecord.maxLabelBytes else { return .tooLarge }
            guard SharingLedger.count(ledger.linkTimes[author], inHourBefore: op.timestamp) < SharingLimits.linksPerHour
            else { return .rateLimited }
            return nil
        case .revokeLink(let tokenID):
            guard past.permissions[author] == .admin else { return .notPermitted }
            return tokenID.count == InviteRecord.tokenIDBytes ? nil : .invalid
        case .declineInvite(let tokenID):
            guard tokenID.count == InviteRecord.tokenIDBytes else { return .invalid }
            guard SharingLedger.count(ledger.declineTimes[author], inHourBefore: op.timestamp) < SharingLimits.declinesPerHour
            else { return .rateLimited }
            return nil
        case .requestAccess(_, let note):
            guard note.utf8.count <= SharingLimits.maxNoteBytes else { return .tooLarge }
            guard SharingLedger.count(ledger.requestTimes[author], inHourBefore: op.timestamp) < SharingLimits.accessRequestsPerHour
            else { return .rateLimited }
            return nil
        }
    }

    /// The permission `member` holds after those of `ops` (accepted operations about it, in
    /// order) that `inPast` admits: what ``MembershipState/apply(_:)`` computes for its entry, without
    /// building a whole state.
    /// - Complexity: O(ops).
    static func permission(of member: ReplicaID, after ops: [GovernanceOp], inPast: (GovernanceOp) -> Bool) -> Permission? {
        var level: Permission?
        for op in ops where inPast(op) { level = op.permission(of: member, after: level) }
        return level
    }

    /// The settings and title after those of `ops` (accepted genesis and settings operations, in
    /// order) that `inPast` admits, as ``MembershipState/apply(_:)`` computes them.
    /// - Complexity: O(ops).
    static func settings(after ops: [GovernanceOp], inPast: (GovernanceOp) -> Bool) -> (ConversationSettings, String) {
        var state = MembershipState()
        for op in ops where inPast(op) { op.applySettings(to: &state) }
        return (state.settings, state.title)
    }

    /// True when an operation `id` with causal past `cut` is excluded by one of `removals` of its
    /// author: it is not in the removal's past, and no re-admission that saw the removal is in its past.
    static func isRevoked(_ id: OpID, cut: VectorClock, by removals: [GovernanceOp], readmissions: [GovernanceOp]) -> Bool {
        isRevoked(id, inPast: { cut.contains($0) }, by: removals, readmissions: readmissions)
    }

    static func isRevoked(_ id: OpID, inPast: (OpID) -> Bool, by removals: [GovernanceOp], readmissions: [GovernanceOp]) -> Bool {
        for removal in removals where !removal.cut.contains(id) && removal.id != id {
            let readmitted = readmissions.contains { grant in
                let admits: Bool
                switch grant.kind {
                case .setPermission(let member, _): admits = member == id.replica
                case .join: admits = grant.id.replica == id.replica
                default: admits = false
                }
                return admits && grant.cut.contains(removal.id) && (inPast(grant.id) || grant.id == id)
            }
            if !readmitted { return true }
        }
        return false
    }

    // MARK: Queries for ordinary operations

    /// The author's permission in the causal past `cut`, or nil when not a member there (or
    /// excluded by a removal), capped by any permission change of the author concurrent with
    /// the operation.
    /// - Complexity: O(accepted operations about the author), whatever else the log holds.
    public func permission(of author: ReplicaID, for id: OpID, cut: CausalPast) -> Permission? {
        if let revocations = removals[author],
           Self.isRevoked(id, inPast: cut.contains, by: revocations, readmissions: acceptedInOrder) { return nil }
        // An operation changes only its subject's entry, so the author's ops decide it.
        let level = Self.permission(of: author, after: lastPass.acceptedAbout[author] ?? [], inPast: { cut.contains($0.id) })
        guard let level, let changes = permissionChanges[author] else { return level }
        return Self.capped(level, of: id, inPast: cut.contains, by: changes)
    }

    /// `level` lowered to the lowest level set by a change in `changes` that is concurrent with
    /// operation `id` (neither in the other's causal past): a permission change wins over the
    /// operations concurrent with it.
    /// - Complexity: O(changes).
    static func capped(_ level: Permission, of id: OpID, inPast: (OpID) -> Bool, by changes: [GovernanceOp]) -> Permission {
        var level = level
        for change in changes where change.id != id && !inPast(change.id) && !change.cut.contains(id) {
            if case .setPermission(_, let granted) = change.kind, granted < level { level = granted }
        }
        return level
    }

    /// The settings in force in the causal past `cut`.
    /// - Complexity: O(accepted genesis and settings operations).
    public func settings(cut: CausalPast) -> ConversationSettings {
        Self.settings(after: lastPass.settingsChanges, inPast: { cut.contains($0.id) }).0
    }

    /// True when `cut` contains every governance operation.
    func coversAll(_ cut: CausalPast) -> Bool {
        highest.allSatisfy { cut[$0.key] > $0.value }
    }

    /// True when the removed member `author` was revoked with an operation not seeing `id`.
    public func isExcludedByRevocation(_ id: OpID, cut: CausalPast) -> Bool {
        guard let revocations = removals[id.replica] else { return false }
        return Self.isRevoked(id, inPast: cut.contains, by: revocations, readmissions: acceptedInOrder)
    }
}

