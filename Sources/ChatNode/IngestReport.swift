import ChatCore
import ChatWire
import ChatSync

/// What one ingest did, batch by batch and operation by operation.
public struct IngestReport: Sendable, Hashable {
    /// Batches newly stored (durable) and applied.
    public var accepted = 0
    /// Batches already stored: no effect.
    public var duplicates = 0
    /// Validly signed batches that conflict with their author's chain: stored as evidence, never applied.
    public var forks = 0
    /// Batches waiting for a predecessor or a causal dependency.
    public var held = 0
    /// Refused batches by reason code (malformed, bad signature, wrong conversation, pending full, …).
    public var rejected: [String: Int] = [:]
    /// Operations applied to the conversation.
    public var operationsApplied = 0
    /// Operations stored but excluded by the conversation's rules (permissions, revocation,
    /// limits); they stay in the log.
    public var operationsExcluded = 0
    /// Signatures that were checked here and verified (not this node's own batches, nor ones
    /// that failed).
    public var signaturesVerified = 0
    /// Bytes of out-of-order batches the conversation holds after this commit.
    public var pendingBytes = 0

    public init() {}

    public var rejectedCount: Int { rejected.values.reduce(0, +) }

    public mutating func merge(_ other: IngestReport) {
        accepted += other.accepted
        duplicates += other.duplicates
        forks += other.forks
        held += other.held
        for (code, count) in other.rejected { rejected[code, default: 0] += count }
        operationsApplied += other.operationsApplied
        operationsExcluded += other.operationsExcluded
        signaturesVerified += other.signaturesVerified
    }
}

/// What ingesting a peer's batches did, with the batches themselves for replication.
public struct IngestOutcome: Sendable {
    public var report: IngestReport
    /// Every batch whose signature checked out: the sender holds them (never send them back).
    public var authentic: [AuthenticatedBatch]
    /// The batches newly stored and applied, in causal order: relay them to other peers.
    public var accepted: [AuthenticatedBatch]
    /// The replica's clock right after this commit.
    public var clockAfter: VectorClock
    /// Batches that reveal a fork, to send to every peer whatever its clock says (see
    /// ``ConversationReplica``): new conflicting batches and the stored ones they conflict with.
    public var evidence: [AuthenticatedBatch] = []
    /// Batches to ask the sender for by hash: what held batches name on a branch this replica
    /// does not hold (see ``ChatSync/BatchVerifier/takeWanted()``).
    public var wanted: [BatchDependency] = []

    public init(report: IngestReport, authentic: [AuthenticatedBatch], accepted: [AuthenticatedBatch],
                clockAfter: VectorClock, evidence: [AuthenticatedBatch] = [], wanted: [BatchDependency] = []) {
        self.report = report
        self.authentic = authentic
        self.accepted = accepted
        self.clockAfter = clockAfter
        self.evidence = evidence
        self.wanted = wanted
    }
}
