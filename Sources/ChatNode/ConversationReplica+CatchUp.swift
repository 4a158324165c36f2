import ChatCore
import ChatStore
import ChatSync
import ChatWire

extension ConversationReplica {
    /// Stored batches a peer lacks: those above `clock`, in causal order, about `limit` of them
    /// (a few more when authors interleave). Reads each author's log page by page and lets a
    /// verifier order them, so a chunk costs O(limit + authors × page), not the whole log.
    ///
    /// `clock` is untrusted (the peer's report): counts beyond what this node holds, or inside a
    /// batch, are clamped to stored batch boundaries.
    public func storedBatches(above clock: VectorClock, limit: Int) throws(NodeError) -> [AuthenticatedBatch] {
        let started = ContinuousClock.now
        defer { NodeMetrics.catchUpDuration.record(duration: ContinuousClock.now - started) }
        do {
            return try Self.catchUp(store, conversationID, above: clock, limit: limit, limits: limits)
        } catch let error as NodeError {
            throw error
        } catch let error as StoreError {
            throw .store(error)
        } catch {
            throw .inconsistentStore("\(error)")
        }
    }

    private static let catchUpPage = 32

    /// Reads the stored batches above `clock` in causal order. `strict` (loading after a
    /// snapshot): `clock` must be covered by the store exactly and every batch read must be
    /// ordered; otherwise (a peer's report) `clock` is clamped and about `limit` are read.
    static func catchUp(_ store: ChatStore, _ conversation: ConversationID, above clock: VectorClock, limit: Int,
                        limits: WireLimits, strict: Bool = false) throws -> [AuthenticatedBatch] {
        let stored = try store.heads(of: conversation)
        if strict {
            let covered = clock.allEntries { author, count in (stored[author]?.nextCounter ?? 0) >= count }
            guard covered else { throw NodeError.inconsistentStore("the snapshot covers batches that are not stored") }
        }
        var heads: [ReplicaID: BatchVerifier.Head] = [:]
        var cursors: [(author: ReplicaID, next: UInt32, end: UInt32)] = []
        for (author, head) in stored {
            let claimed = min(clock[author], head.nextCounter)
            var next: UInt32 = 0
            if claimed > 0 {
                guard let last = try store.batch(conversation, author: author, containing: claimed - 1),
                      let end = last.endCounter else {
                    throw NodeError.inconsistentStore("no stored batch holds counter \(claimed - 1) of \(author)")
                }
                heads[author] = BatchVerifier.Head(nextCounter: end, hash: last.hash)
                next = end
            }
            if next < head.nextCounter { cursors.append((author, next, head.nextCounter)) }
        }
        var verifier = BatchVerifier.ordering(conversation: conversation, heads: heads)
        var ordered: [AuthenticatedBatch] = []
        while ordered.count < limit, !cursors.isEmpty {
            var index = 0
            while index < cursors.count {
                let cursor = cursors[index]
                let records = try store.batches(conversation, author: cursor.author, from: cursor.next, limit: catchUpPage)
                for record in records {
                    let batch: SignedBatch
                    do {
                        batch = try SignedBatch(decoding: record.bytes, limits: limits)
                    } catch {
                        throw NodeError.inconsistentStore("stored batch does not decode: \(error)")
                    }
                    for verdict in verifier.submit(AuthenticatedBatch(storedBatch: batch, hash: record.hash)) {
                        if case .accepted(let accepted) = verdict { ordered.append(accepted) }
                    }
                }
                let next = records.last?.endCounter ?? cursor.end
                if records.isEmpty || next >= cursor.end {
                    cursors.remove(at: index)
                } else {
                    cursors[index].next = next
                    index += 1
                }
            }
        }
        if strict, verifier.pendingCount > 0 {
            throw NodeError.inconsistentStore("\(verifier.pendingCount) stored batches lack their causal dependencies")
        }
        return ordered
    }
}
