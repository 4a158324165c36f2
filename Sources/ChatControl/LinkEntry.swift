import ChatCore

/// A recorded link or invitation as `link list` and `invitations` show it.
public struct LinkEntry: Sendable, Hashable, Codable {
    public var tokenID: String
    public var permission: String
    public var label: String
    public var creator: String
    public var createdAt: UInt64
    public var expiresAt: UInt64?
    public var useLimit: UInt32?
    /// Accepted joins with the token.
    public var uses: Int
    public var joiners: [String]
    public var invitee: String?
    /// active, expired, used_up, revoked, declined (invitations: pending or accepted instead of active).
    public var state: String
    /// The admitting members' signed records of the accepted joins, in the same order as `joiners`.
    public var admissions: [AdmissionEntry] = []

    public init(tokenID: String, permission: String, label: String, creator: String, createdAt: UInt64,
                expiresAt: UInt64? = nil, useLimit: UInt32? = nil, uses: Int, joiners: [String],
                invitee: String? = nil, state: String, admissions: [AdmissionEntry] = []) {
        self.tokenID = tokenID
        self.permission = permission
        self.label = label
        self.creator = creator
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.useLimit = useLimit
        self.uses = uses
        self.joiners = joiners
        self.invitee = invitee
        self.state = state
        self.admissions = admissions
    }
}

/// Who admitted a joiner on a link, when (the admitting member's clock) and as which use.
public struct AdmissionEntry: Sendable, Hashable, Codable {
    public var joiner: String
    public var admittedBy: String
    /// ms since the Unix epoch, on the admitting member's clock.
    public var admittedAt: UInt64
    /// 1 for the first use the admitting member knew of, and so on.
    public var use: UInt64

    public init(joiner: String, admittedBy: String, admittedAt: UInt64, use: UInt64) {
        self.joiner = joiner
        self.admittedBy = admittedBy
        self.admittedAt = admittedAt
        self.use = use
    }
}
