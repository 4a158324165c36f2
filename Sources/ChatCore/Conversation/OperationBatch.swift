/// A batch of one author's consecutive operations, as the conversation sees it (decoded and
/// verified elsewhere): who, which counters, the causal past it was made in, and the author's
/// signed timestamp.
public struct OperationBatch: Sendable, Hashable {
    public var author: ReplicaID
    public var firstCounter: UInt32
    /// The author's vector clock when the batch was made (its causal past).
    public var clock: VectorClock
    /// Milliseconds since the Unix epoch, signed by the author.
    public var timestamp: UInt64
    public var operations: [ConversationOp]

    public init(author: ReplicaID, firstCounter: UInt32, clock: VectorClock, timestamp: UInt64, operations: [ConversationOp]) {
        self.author = author
        self.firstCounter = firstCounter
        self.clock = clock
        self.timestamp = timestamp
        self.operations = operations
    }

    /// Each operation with its id, in order.
    public var identified: [(id: OpID, op: ConversationOp)] {
        var counter = firstCounter
        return operations.map { op in
            defer { counter &+= op.idCount }
            return (OpID(replica: author, counter: counter), op)
        }
    }

    /// The causal past of the operation with id `id` of this batch: the batch's clock plus the
    /// author's earlier operations.
    public func cut(of id: OpID) -> VectorClock {
        var cut = clock
        cut[author] = id.counter
        return cut
    }

    /// The same causal past without copying the clock (for per-operation checks).
    public func causalPast(of id: OpID) -> CausalPast {
        CausalPast(clock: clock, author: author, counter: id.counter)
    }
}

/// An operation's causal past: its batch's clock, with the author's own entry replaced by the
/// operation's counter. A view, so judging an operation allocates nothing.
public struct CausalPast: Sendable {
    public let clock: VectorClock
    public let author: ReplicaID
    public let counter: UInt32

    /// How many operations of `replica` are in the past.
    public subscript(replica: ReplicaID) -> UInt32 { replica == author ? counter : clock[replica] }

    /// True when operation `id` is in the past.
    public func contains(_ id: OpID) -> Bool { id.counter < self[id.replica] }
}

/// What a signed invite token grants, once decoded and its signature checked (by the caller,
/// which has the wire format and the cryptography).
public struct InviteGrant: Sendable, Hashable {
    public var conversation: ConversationID
    public var permission: Permission
    public var issuer: ReplicaID
    public var tokenID: [UInt8]
    /// ms since the Unix epoch; nil: never.
    public var expiresAt: UInt64?
    /// nil: unlimited.
    public var useLimit: UInt32?

    public init(conversation: ConversationID, permission: Permission, issuer: ReplicaID, tokenID: [UInt8],
                expiresAt: UInt64?, useLimit: UInt32?) {
        self.conversation = conversation
        self.permission = permission
        self.issuer = issuer
        self.tokenID = tokenID
        self.expiresAt = expiresAt
        self.useLimit = useLimit
    }
}

/// Decodes a join's token bytes and checks the issuer's signature; nil when the token is not valid.
/// Must be deterministic (same bytes, same answer on every replica).
public typealias InviteVerifier = @Sendable ([UInt8]) -> InviteGrant?

/// A member's signed record that it admitted `joiner` on the token `tokenID` at `admittedAt` (its
/// own wall clock, ms since the Unix epoch), having seen `usesSeen` joins with that token id. The
/// joiner carries it in its join operation, so expiry and use count are judged on the admitting
/// member's word rather than the joiner's clock (see ``GovernanceResolution``). A join to a public
/// conversation carries one too, naming ``publicTokenID``, with `usesSeen` the public joins that
/// member had vouched for in the hour before.
public struct JoinAdmission: Sendable, Hashable {
    /// The token id an admission to a *public* conversation names (no token is involved; no
    /// link may be recorded under it).
    public static let publicTokenID = [UInt8](repeating: 0, count: 16)

    public var conversation: ConversationID
    public var joiner: ReplicaID
    public var tokenID: [UInt8]
    public var admitter: ReplicaID
    public var admittedAt: UInt64
    public var usesSeen: UInt32

    public init(conversation: ConversationID, joiner: ReplicaID, tokenID: [UInt8], admitter: ReplicaID,
                admittedAt: UInt64, usesSeen: UInt32) {
        self.conversation = conversation
        self.joiner = joiner
        self.tokenID = tokenID
        self.admitter = admitter
        self.admittedAt = admittedAt
        self.usesSeen = usesSeen
    }
}

/// Decodes a join's admission bytes and checks the admitting member's signature; nil when they
/// are not a valid admission. Must be deterministic (same bytes, same answer on every replica).
public typealias AdmissionVerifier = @Sendable ([UInt8]) -> JoinAdmission?
