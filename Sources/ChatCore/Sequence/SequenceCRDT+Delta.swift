extension SequenceCRDT {
    /// The operations this replica has applied that a replica at `clock` lacks, in an order in
    /// which that replica can apply them (the order they were applied here, which is causal).
    ///
    /// The peer's clock must describe a causally closed set (it applied ops in causal order),
    /// as every ``SequenceCRDT`` clock does.
    /// - Complexity: O(history entries + returned elements · log n).
    public func operations(since clock: VectorClock = VectorClock()) -> [SequenceOp<Element>] {
        guard deferred == nil else { return loadedForReading.operations(since: clock) }
        precondition(core.keepsHistory, "operations(since:) needs a sequence that keeps its history") // SAFETY: programming error, not input
        let lower = core.replicas.entries.map { clock[$0.id] }
        var ops: [SequenceOp<Element>] = []
        for entry in core.log {
            let floor = lower[Int(entry.id.replica)]
            let end = entry.id.counter &+ entry.count
            guard end > floor else { continue }
            let skip = floor > entry.id.counter ? floor - entry.id.counter : 0
            let first = entry.id.advanced(by: skip)
            let count = entry.count - skip
            guard let id = core.opID(first) else { continue }
            if entry.isInsert {
                if let insert = reconstructInsert(from: first, count: count, id: id) { ops.append(.insert(insert)) }
            } else if let target = core.opID(entry.target.advanced(by: skip)) {
                ops.append(.delete(SequenceDelete(id: id, target: target, count: count)))
            }
        }
        return ops
    }

    /// Rebuilds the insert of elements `first ..< first + count` from the spans now holding them.
    private func reconstructInsert(from first: LocalID, count: UInt32, id: OpID) -> SequenceInsert<Element>? {
        var elements: [Element] = []
        elements.reserveCapacity(Int(count))
        var next = first
        var remaining = count
        var originLeft = LocalID.none
        var originRight = LocalID.none
        while remaining > 0, let position = core.tree.locate(next) {
            let span = core.tree.span(at: position)
            if next == first {
                originLeft = span.originLeft(at: position.offset)
                originRight = span.originRight
            }
            let take = min(remaining, span.length - position.offset)
            let start = Int(span.contentStart + position.offset)
            elements.append(contentsOf: content[start ..< start + Int(take)])
            next = next.advanced(by: take)
            remaining -= take
        }
        guard remaining == 0 else { return nil }
        return SequenceInsert(id: id, originLeft: core.opID(originLeft), originRight: core.opID(originRight),
                              content: elements)
    }

    /// Applies everything `other` has that this replica lacks.
    /// - Complexity: O(other's history + merged elements · log n).
    public mutating func merge(_ other: SequenceCRDT<Element>) throws(SequenceError) {
        // A text-first load whose deferred sections are malformed has no history to give:
        // refuse it rather than merge nothing.
        var other = other
        try other.completeLoad()
        try apply(contentsOf: other.operations(since: clock))
    }
}
