/// A recorded share link or direct invitation, as every replica materializes it from the
/// accepted governance operations.
public struct LinkState: Sendable, Hashable {
    /// The record as its creator wrote it.
    public var record: InviteRecord
    /// The admin who recorded it.
    public var creator: ReplicaID
    /// The id of the `createLink` operation.
    public var createdBy: OpID
    /// The creator's signed timestamp (ms).
    public var createdAt: UInt64
    /// Accepted joins with this token id, in resolution order.
    public var joiners: [ReplicaID] = []
    /// The admitting members' records of those joins, in the same order.
    public var admissions: [JoinAdmission] = []
    /// True once an accepted `revokeLink` names this token id.
    public var revoked = false
    /// True once the record's invitee declined it.
    public var declined = false

    /// Accepted joins with this token id.
    public var uses: Int { joiners.count }
}

/// A member's (or a non-member's) request for a permission, kept for the admins.
public struct AccessRequest: Sendable, Hashable {
    /// The `requestAccess` operation.
    public var id: OpID
    /// The requested permission.
    public var permission: Permission
    /// The requester's note.
    public var note: String
    /// The requester's signed timestamp (ms).
    public var at: UInt64
    /// True when the requester later (the request in its causal past) received at least
    /// `permission` by an accepted `setPermission` or join.
    public var granted = false

    /// Who asked.
    public var author: ReplicaID { id.replica }
}

/// Links, invitations and access requests: a pure function of the accepted governance
/// operations in resolution order, so equal on every replica that has the same operations.
public struct SharingState: Sendable, Hashable {
    /// Recorded links and invitations by token id.
    public var links: [[UInt8]: LinkState] = [:]
    /// Accepted access requests in resolution (causal) order.
    public var accessRequests: [AccessRequest] = []

    public init() {}

    /// Builds the state from accepted operations in resolution order.
    /// - Complexity: O(a + r · g) for a accepted operations, r requests and g grants to their authors.
    init(accepted: [GovernanceOp]) {
        var grants: [ReplicaID: [(op: GovernanceOp, permission: Permission)]] = [:]
        for op in accepted {
            switch op.kind {
            case .createLink(let record) where links[record.tokenID] == nil:
                links[record.tokenID] = LinkState(record: record, creator: op.id.replica, createdBy: op.id,
                                                  createdAt: op.timestamp)
            case .setPermission(let member, let permission):
                grants[member, default: []].append((op, permission))
            case .join(let request):
                var permission = Permission.view
                if case .token(let grant, _) = request { permission = grant.permission }
                grants[op.id.replica, default: []].append((op, permission))
            default:
                break
            }
        }
        for op in accepted {
            switch op.kind {
            case .join(.token(let grant, let admission)):
                links[grant.tokenID]?.joiners.append(op.id.replica)
                if let admission { links[grant.tokenID]?.admissions.append(admission) }
            case .revokeLink(let tokenID):
                links[tokenID]?.revoked = true
            case .declineInvite(let tokenID):
                if let invitee = links[tokenID]?.record.invitee, invitee == op.id.replica { links[tokenID]?.declined = true }
            case .requestAccess(let permission, let note):
                let granted = (grants[op.id.replica] ?? []).contains { grant in
                    grant.permission >= permission && grant.op.cut.contains(op.id)
                }
                accessRequests.append(AccessRequest(id: op.id, permission: permission, note: note, at: op.timestamp,
                                                    granted: granted))
            default:
                break
            }
        }
    }
}

/// What one resolution pass knows about sharing so far: token uses, records, revocations,
/// declines and the rate windows, all from operations accepted earlier in the pass.
struct SharingLedger: Sendable {
    /// Accepted token joins so far, per token id.
    var joins: [[UInt8]: [GovernanceOp]] = [:]
    /// The first accepted record per token id.
    var records: [[UInt8]: GovernanceOp] = [:]
    var revocations: [[UInt8]: [GovernanceOp]] = [:]
    var declines: [[UInt8]: [GovernanceOp]] = [:]
    /// Signed timestamps of accepted `createLink`s, `requestAccess`es and `declineInvite`s, per author.
    var linkTimes: [ReplicaID: [UInt64]] = [:]
    var requestTimes: [ReplicaID: [UInt64]] = [:]
    var declineTimes: [ReplicaID: [UInt64]] = [:]
    /// The `admittedAt` of accepted public joins, per admitting member.
    var publicAdmissionTimes: [ReplicaID: [UInt64]] = [:]

    func uses(of tokenID: [UInt8]) -> Int { joins[tokenID]?.count ?? 0 }

    /// True when the join `op` with a verified `grant` and `admission` is allowed: the token's
    /// link is recorded in the join's past, the admission names this join and a member of `past`
    /// other than the joiner admitted it, within the expiry and use limits of the token and of
    /// the record, and no revocation or decline in the join's past refuses it (see
    /// ``GovernanceResolution``).
    /// - Complexity: O(j) in the joins with the token id so far.
    func admits(_ op: GovernanceOp, grant: InviteGrant, admission: JoinAdmission, past: MembershipState) -> Bool {
        let tokenID = grant.tokenID
        guard admission.conversation == grant.conversation, admission.joiner == op.id.replica,
              admission.tokenID == tokenID, admission.admitter != op.id.replica,
              past.permissions[admission.admitter] != nil,
              withinLimits(expiresAt: grant.expiresAt, useLimit: grant.useLimit, admission: admission),
              (joins[tokenID] ?? []).count(where: { op.cut.contains($0.id) }) >= Int(admission.usesSeen)
        else { return false }
        if (revocations[tokenID] ?? []).contains(where: { $0.isInPast(of: op.id, cut: op.cut) }) { return false }
        guard let recordOp = records[tokenID], recordOp.isInPast(of: op.id, cut: op.cut),
              case .createLink(let record) = recordOp.kind else { return false }
        guard withinLimits(expiresAt: record.expiresAt, useLimit: record.useLimit, admission: admission) else { return false }
        guard let invitee = record.invitee else { return true }
        guard op.id.replica == invitee else { return false }
        return !(declines[tokenID] ?? []).contains { $0.id.replica == invitee && $0.isInPast(of: op.id, cut: op.cut) }
    }

    /// True when the public join `op` may count with `admission`: the admission names this joiner
    /// and a member of `past` other than the joiner vouched for it, having seen fewer than
    /// ``SharingLimits/publicAdmissionsPerHour`` of its own public admissions in the hour before,
    /// and fewer than that many accepted so far fall in that hour (or later, so that backdating
    /// does not help).
    /// - Complexity: O(p) in the public joins that member admitted so far.
    func admitsPublic(_ op: GovernanceOp, admission: JoinAdmission, past: MembershipState) -> Bool {
        admission.joiner == op.id.replica && admission.tokenID == JoinAdmission.publicTokenID
            && admission.admitter != op.id.replica && past.permissions[admission.admitter] != nil
            && Int(admission.usesSeen) < SharingLimits.publicAdmissionsPerHour
            && Self.count(publicAdmissionTimes[admission.admitter], inHourBefore: admission.admittedAt)
            < SharingLimits.publicAdmissionsPerHour
    }

    /// Admitted before `expiresAt` (on the admitting member's clock), and the use limit not
    /// reached either as the admitting member saw it or by the joins accepted so far.
    private func withinLimits(expiresAt: UInt64?, useLimit: UInt32?, admission: JoinAdmission) -> Bool {
        if let expiresAt, admission.admittedAt > expiresAt { return false }
        if let useLimit, admission.usesSeen >= useLimit || uses(of: admission.tokenID) >= Int(useLimit) { return false }
        return true
    }

    /// Records an accepted operation.
    mutating func note(_ op: GovernanceOp) {
        switch op.kind {
        case .join(.token(let grant, _)):
            joins[grant.tokenID, default: []].append(op)
        case .join(.publicJoin(let admission?)):
            publicAdmissionTimes[admission.admitter, default: []].append(admission.admittedAt)
        case .createLink(let record):
            if records[record.tokenID] == nil { records[record.tokenID] = op }
            linkTimes[op.id.replica, default: []].append(op.timestamp)
        case .revokeLink(let tokenID):
            revocations[tokenID, default: []].append(op)
        case .declineInvite(let tokenID):
            declines[tokenID, default: []].append(op)
            declineTimes[op.id.replica, default: []].append(op.timestamp)
        case .requestAccess:
            requestTimes[op.id.replica, default: []].append(op.timestamp)
        default:
            break
        }
    }

    /// How many of `times` fall in the hour before `now` (later ones count too: an author's
    /// timestamps should not go backwards). No arithmetic overflows on hostile timestamps.
    static func count(_ times: [UInt64]?, inHourBefore now: UInt64) -> Int {
        times.map { count($0[...], inHourBefore: now) } ?? 0
    }

    static func count(_ times: ArraySlice<UInt64>, inHourBefore now: UInt64) -> Int {
        guard now >= SharingLimits.hour else { return times.count }
        let floor = now - SharingLimits.hour
        return times.count { $0 > floor }
    }
}
