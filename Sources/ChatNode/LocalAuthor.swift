import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// This node's own writing in one conversation: local operations are coalesced into batches
/// (``OperationBatcher``: a burst of keystrokes is one batch and one signature), numbered after
/// the author's last batch, chained to it by hash, signed, and ingested like any other batch, so
/// they are durable when ``ConversationReplica/submit(_:now:wallClock:)`` or
/// ``ConversationReplica/flush(now:wallClock:)`` returns them.
public struct LocalAuthor: Sendable {
    public let key: SigningKey
    public private(set) var batcher: OperationBatcher
    /// A sealed batch whose ingest failed (a store error): offered again by the next flush, so a
    /// local edit is never dropped.
    var unsent: SignedBatch?

    public init(key: SigningKey, policy: OperationBatcher.Policy = .default) {
        self.key = key
        batcher = OperationBatcher(policy: policy)
    }

    public var replica: ReplicaID { key.publicKey.replicaID }

    /// Queues an operation; returns what the caller should do.
    mutating func add(_ op: ConversationOp, now: Duration) -> OperationBatcher.Decision {
        batcher.add(op, now: now)
    }

    /// Seals the queued operations into a signed batch that continues the author's chain.
    /// It names, besides its previous batch, the `dependencies` (the heads of every other
    /// author this node holds).
    mutating func seal(conversation: ConversationID, head: BatchVerifier.Head, dependencies: [BatchDependency],
                       wallClock: UInt64) -> SignedBatch? {
        let operations = batcher.drain()
        guard !operations.isEmpty else { return nil }
        let content = BatchContent(
            conversation: conversation, author: replica, firstCounter: head.nextCounter, timestamp: wallClock,
            previousHash: head.hash, dependencies: dependencies, operations: operations)
        let key = self.key
        return SignedBatch(content: content) { key.sign($0).bytes }
    }
}

extension ConversationReplica {
    /// What submitting a local operation did.
    public enum SubmitResult: Sendable {
        /// Sealed, signed and durable: the batch to send to peers, and what ingesting it did.
        case sealed(SignedBatch, IngestReport)
        /// Queued; call ``flush(wallClock:)`` at this instant (or earlier) to seal it.
        case queued(flushAt: Duration)
        /// Queued behind an already scheduled flush.
        case waiting
    }

    /// Submits a local operation at monotonic instant `now` and wall clock `wallClock` (ms since
    /// the Unix epoch, signed into the batch). Needs ``attachAuthor(_:policy:)``.
    public func submit(_ op: ConversationOp, now: Duration, wallClock: UInt64) async throws(NodeError) -> SubmitResult {
        guard var author = localAuthor else { throw .noLocalAuthor }
        let decision = author.add(op, now: now)
        localAuthor = author
        switch decision {
        case .sealNow:
            guard let sealed = try await flush(wallClock: wallClock) else { return .waiting }
            return .sealed(sealed.0, sealed.1)
        case .sealAt(let deadline):
            return .queued(flushAt: deadline)
        case .wait:
            return .waiting
        }
    }

    /// Signs `ops` (after anything queued) into batches that continue this node's chain and
    /// commits them — all in one step on the actor, so concurrent writers cannot interleave and
    /// each gets its own batches back. One batch unless `ops` exceed the batcher's bounds (a
    /// batch never outgrows the wire's limit); empty when there was nothing to write.
    /// - Complexity: one signature and one LMDB transaction per batch, then apply.
    public func writeLocal(_ ops: [ConversationOp], wallClock: UInt64) throws(NodeError) -> [(SignedBatch, IngestOutcome)] {
        guard var author = localAuthor else { throw .noLocalAuthor }
        if let unsent = author.unsent {
            // A batch sealed earlier whose commit failed: it goes first, keeping the chain.
            _ = try commitOutcome([.success(AuthenticatedBatch(storedBatch: unsent, hash: Hashing.blake2b(unsent.bytes)))])
            author.unsent = nil
            localAuthor = author
        }
        var written: [(SignedBatch, IngestOutcome)] = []
        for (index, op) in ops.enumerated() {
            let full = author.add(op, now: .zero) == .sealNow
            localAuthor = author
            guard full || index == ops.count - 1 else { continue }
            if let batch = try commitSealed(wallClock: wallClock) { written.append(batch) }
            guard let current = localAuthor else { throw .noLocalAuthor }
            author = current
        }
        return written
    }

    /// Seals what the local author has queued and commits it. Refuses (before signing anything
    /// into the store) a batch too large for the wire, or one the conversation would not store.
    private func commitSealed(wallClock: UInt64) throws(NodeError) -> (SignedBatch, IngestOutcome)? {
        guard var author = localAuthor else { throw .noLocalAuthor }
        let sealed = author.seal(conversation: conversationID, head: head(of: author.replica),
                                 dependencies: dependencies(for: author.replica), wallClock: wallClock)
        localAuthor = author
        guard let batch = sealed else { return nil }
        let limit = WireLimits.default.maxBatchBytes
        guard batch.bytes.count <= limit else { throw .batchTooLarge(bytes: batch.bytes.count, limit: limit) }
        localAuthor?.unsent = batch
        let outcome = try commitOutcome([.success(AuthenticatedBatch(storedBatch: batch, hash: Hashing.blake2b(batch.bytes)))])
        localAuthor?.unsent = nil
        if outcome.accepted.isEmpty, let refusal = StorageRefusal.allCases.first(where: { outcome.report.rejected[$0.rawValue] != nil }) {
            throw .notStored(refusal)
        }
        return (batch, outcome)
    }

    /// Seals and ingests whatever the local author has queued; nil when nothing was queued. If
    /// the store fails, the sealed batch is kept and offered again by the next flush.
    public func flush(wallClock: UInt64) async throws(NodeError) -> (SignedBatch, IngestReport)? {
        guard var author = localAuthor else { throw .noLocalAuthor }
        let batch = author.unsent ?? author.seal(conversation: conversationID, head: head(of: author.replica),
                                                 dependencies: dependencies(for: author.replica), wallClock: wallClock)
        author.unsent = batch
        localAuthor = author
        guard let batch else { return nil }
        let limit = WireLimits.default.maxBatchBytes
        guard batch.bytes.count <= limit else {
            localAuthor?.unsent = nil
            throw .batchTooLarge(bytes: batch.bytes.count, limit: limit)
        }
        let report = try await ingest([batch.bytes])
        localAuthor?.unsent = nil
        return (batch, report)
    }
}
