public import ChatCore

/// What `ChatStore.checkIntegrity(verifying:)` found: per conversation and author, how much is stored,
/// and every problem.
public struct IntegrityReport: Sendable, Hashable, CustomStringConvertible {
    /// One author's stored log in one conversation.
    public struct AuthorSummary: Sendable, Hashable {
        /// The author.
        public var author: ReplicaID
        /// The number of stored batches.
        public var batchCount: Int
        /// The number of ops in those batches.
        public var opCount: UInt64
    }

    /// One conversation's stored log.
    public struct ConversationSummary: Sendable, Hashable {
        /// The conversation.
        public var conversation: ConversationID
        /// Its authors, sorted.
        public var authors: [AuthorSummary]
        /// The number of batches kept as fork evidence.
        public var forkCount: Int
        /// Whether a snapshot is stored.
        public var hasSnapshot: Bool

        /// The number of stored batches, all authors together.
        public var batchCount: Int { authors.reduce(0) { $0 + $1.batchCount } }
        /// The number of stored ops, all authors together.
        public var opCount: UInt64 { authors.reduce(0) { $0 + $1.opCount } }
    }

    /// Every conversation found, sorted by id.
    public var conversations: [ConversationSummary]
    /// Every problem found, in the order found.
    public var problems: [IntegrityProblem]

    /// True when no problem was found.
    public var ok: Bool { problems.isEmpty }

    public var description: String {
        let batches = conversations.reduce(0) { $0 + $1.batchCount }
        let ops = conversations.reduce(UInt64(0)) { $0 + $1.opCount }
        let totals = "\(conversations.count) conversations, \(batches) batches, \(ops) ops"
        return ok ? "ok: \(totals)" : "\(problems.count) problems in \(totals)"
    }
}

/// One inconsistency found by the integrity check.
public enum IntegrityProblem: Sendable, Hashable, CustomStringConvertible {
    /// A key or value in `database` does not decode.
    case malformedRecord(database: String, key: [UInt8])
    /// An author's counters are not dense: the batch at `found` should have started at `expected`
    /// (found > expected: batches are missing; found < expected: batches overlap).
    case counterGap(ConversationID, ReplicaID, expected: UInt32, found: UInt32)
    /// The verifier rejected the batch starting at `firstCounter` (signature, hash or chain).
    case verificationFailed(ConversationID, ReplicaID, firstCounter: UInt32)
    /// An author has stored batches but no head.
    case missingHead(ConversationID, ReplicaID)
    /// An author has a head but no stored batches.
    case headWithoutBatches(ConversationID, ReplicaID)
    /// The head's next counter is not one past the last stored batch's last op.
    case headCounterMismatch(ConversationID, ReplicaID, head: UInt32, log: UInt32)
    /// The head's hash is not the hash in the last stored batch's header.
    case headHashMismatch(ConversationID, ReplicaID)
    /// The conversation's maintained batch or op count differs from what is stored.
    case countMismatch(ConversationID, recordedBatches: UInt64, foundBatches: UInt64, recordedOps: UInt64, foundOps: UInt64)
    /// Records exist for a conversation missing from the conversation list.
    case unlistedConversation(ConversationID)
    /// The snapshot's clock covers ops that are not in the log.
    case snapshotAheadOfLog(ConversationID)

    /// A stable, machine-readable code for this kind of problem.
    public var code: String {
        switch self {
        case .malformedRecord: "integrity.malformedRecord"
        case .counterGap: "integrity.counterGap"
        case .verificationFailed: "integrity.verificationFailed"
        case .missingHead: "integrity.missingHead"
        case .headWithoutBatches: "integrity.headWithoutBatches"
        case .headCounterMismatch: "integrity.headCounterMismatch"
        case .headHashMismatch: "integrity.headHashMismatch"
        case .countMismatch: "integrity.countMismatch"
        case .unlistedConversation: "integrity.unlistedConversation"
        case .snapshotAheadOfLog: "integrity.snapshotAheadOfLog"
        }
    }

    /// One human sentence describing the problem.
    public var description: String {
        switch self {
        case .malformedRecord(let database, let key):
            "A record in the \(database) database (key of \(key.count) bytes) does not decode."
        case .counterGap(let conversation, let author, let expected, let found):
            found > expected
                ? "In conversation \(conversation), author \(author)'s batches \(expected)..<\(found) are missing."
                : "In conversation \(conversation), author \(author)'s batch at \(found) overlaps ops up to \(expected)."
        case .verificationFailed(let conversation, let author, let firstCounter):
            "In conversation \(conversation), author \(author)'s batch at \(firstCounter) failed verification."
        case .missingHead(let conversation, let author):
            "In conversation \(conversation), author \(author) has batches but no head."
        case .headWithoutBatches(let conversation, let author):
            "In conversation \(conversation), author \(author) has a head but no batches."
        case .headCounterMismatch(let conversation, let author, let head, let log):
            "In conversation \(conversation), author \(author)'s head says \(head) ops but the log holds \(log)."
        case .headHashMismatch(let conversation, let author):
            "In conversation \(conversation), author \(author)'s head hash differs from the last batch's hash."
        case .countMismatch(let conversation, let recordedBatches, let foundBatches, let recordedOps, let foundOps):
            "Conversation \(conversation) records \(recordedBatches) batches and \(recordedOps) ops but holds \(foundBatches) and \(foundOps)."
        case .unlistedConversation(let conversation):
            "Conversation \(conversation) has records but is missing from the conversation list."
        case .snapshotAheadOfLog(let conversation):
            "Conversation \(conversation)'s snapshot covers ops that are not in the log."
        }
    }
}
