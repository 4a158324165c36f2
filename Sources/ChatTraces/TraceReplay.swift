import ChatCore

/// Why a trace could not be replayed.
public enum TraceReplayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A patch deletes or inserts outside the document it applies to.
    case patchOutOfRange(transaction: Int, position: Int, deleteCount: Int, documentLength: Int)
    /// The CRDT refused an operation (a bug, or a trace outside the format).
    case sequence(transaction: Int, SequenceError)
    /// A patch's inserted text lies outside the trace's text (a trace built by hand, not parsed).
    case insertedTextOutOfRange(transaction: Int)

    public var description: String {
        switch self {
        case .patchOutOfRange(let txn, let position, let deleteCount, let length):
            "transaction \(txn): patch at \(position) deleting \(deleteCount) is outside a document of \(length) characters"
        case .sequence(let txn, let error):
            "transaction \(txn): \(error)"
        case .insertedTextOutOfRange(let txn):
            "transaction \(txn): a patch's inserted text lies outside the trace's text"
        }
    }
}

/// The outcome of one replay.
public struct TraceReplayResult: Sendable {
    /// The merged replica holding the final document.
    public var document: SequenceCRDT<Unicode.Scalar>
    /// Operation ids made (one per inserted or deleted character).
    public var operationCount: Int
    /// Replicas used: 1 for sequential traces, one per agent for concurrent ones.
    public var replicaCount: Int
}

/// Replays editing traces onto ``SequenceCRDT`` replicas: the correctness oracle of the CRDT.
public enum TraceReplayer {
    /// The replica id used for agent `agent` of a trace.
    public static func replicaID(agent: Int) -> ReplicaID { ReplicaID(testValue: UInt64(agent) + 1) }

    /// Replays `trace`: a sequential trace as local edits on one replica; a concurrent one with a
    /// replica per agent, each brought to exactly its transaction's parent version before the
    /// transaction's patches are applied, and all replicas merged at the end.
    /// - Complexity: O(patches · log n) plus the merges.
    public static func replay(_ trace: EditingTrace) throws(TraceReplayError) -> TraceReplayResult {
        switch trace.kind {
        case .sequential: try replaySequential(trace)
        case .concurrent: try replayConcurrent(trace)
        }
    }

    static func replaySequential(_ trace: EditingTrace) throws(TraceReplayError) -> TraceReplayResult {
        var document = SequenceCRDT<Unicode.Scalar>(replica: replicaID(agent: 0))
        var operations = 0
        do {
            if !trace.startContent.isEmpty {
                try document.insert(contentsOf: trace.startContent, at: 0)
                operations += trace.startContent.count
            }
        } catch {
            throw .sequence(transaction: -1, error)
        }
        // The inserted text is read through one buffer, and the patches by index: a slice per
        // patch would retain and release the trace's storage on every edit.
        try trace.insertedScalars.withUnsafeBufferPointer { text throws(TraceReplayError) in
            for (index, transaction) in trace.transactions.enumerated() {
                for patch in transaction.patchRange {
                    operations += try applyLocally(trace.patches[patch], text: text, transaction: index, to: &document)
                }
            }
        }
        return TraceReplayResult(document: document, operationCount: operations, replicaCount: 1)
    }

    /// Applies one patch, whose inserted text is in `text`, as local edits of a replica nothing is
    /// sent from (the edits of ``ConcurrentReplay/make(_:text:agent:transaction:counter:)``,
    /// without building the operations); returns how many operations they make. The edits check
    /// the patch's range themselves (the document's length is not read twice per patch); a patch
    /// outside the document is said with the length it had.
    static func applyLocally(_ patch: TracePatch, text: UnsafeBufferPointer<Unicode.Scalar>, transaction: Int,
                             to document: inout SequenceCRDT<Unicode.Scalar>) throws(TraceReplayError) -> Int {
        guard patch.insertRange.lowerBound >= 0, patch.insertRange.upperBound <= text.count else {
            throw .insertedTextOutOfRange(transaction: transaction)
        }
        let outOfRange = { (length: Int) in
            TraceReplayError.patchOutOfRange(transaction: transaction, position: patch.position,
                                             deleteCount: patch.deleteCount, documentLength: length)
        }
        if patch.deleteCount <= 0, patch.insertRange.isEmpty {
            // An empty patch edits nothing: its range is checked here.
            guard patch.position >= 0, patch.position <= document.count else { throw outOfRange(document.count) }
            return 0
        }
        var operations = 0
        do throws(SequenceError) {
            // A delete that fits leaves the position inside the document, so the insert fits too.
            if patch.deleteCount > 0 { operations += try document.removeLocally(at: patch.position, count: patch.deleteCount) }
            if !patch.insertRange.isEmpty {
                try document.insertLocally(contentsOf: UnsafeBufferPointer(rebasing: text[patch.insertRange]), at: patch.position)
                operations += 1
            }
        } catch {
            if case .indexOutOfBounds(_, let length) = error { throw outOfRange(length) }
            throw .sequence(transaction: transaction, error)
        }
        return operations
    }

    static func replayConcurrent(_ trace: EditingTrace) throws(TraceReplayError) -> TraceReplayResult {
        var state = ConcurrentReplay(trace: trace)
        try state.run()
        return try state.mergeAll()
    }
}

/// The bookkeeping of a concurrent replay: each agent's ops (in the order made, tagged with
/// their transaction), each transaction's version as a per-agent counter vector, and one replica
/// per agent with the version it holds.
struct ConcurrentReplay {
    let trace: EditingTrace
    let agents: Int
    var replicas: [SequenceCRDT<Unicode.Scalar>]
    /// Per agent: the version (per-agent op counts) its replica holds.
    var held: [[UInt32]]
    /// Per agent: the ops it made, with the transaction that made them and their first counter
    /// (in parallel arrays: a tuple per op is copied and destroyed through generic witnesses).
    var made: [MadeOps]
    /// Per transaction: its version after it ran, flat (`agents` entries per transaction).
    var versions: [UInt32]
    var operationCount = 0

    init(trace: EditingTrace) {
        self.trace = trace
        agents = max(1, trace.agentCount)
        replicas = (0 ..< agents).map { SequenceCRDT(replica: TraceReplayer.replicaID(agent: $0)) }
        held = Array(repeating: Array(repeating: 0, count: agents), count: agents)
        // A patch makes one op, or two when it deletes and inserts: room for one each up front
        // (growing the op lists copied megabytes per replay).
        var patches = [Int](repeating: 1, count: agents)
        for transaction in trace.transactions { patches[transaction.agent] += transaction.patchRange.count }
        made = patches.map { MadeOps(capacity: $0) }
        versions = []
        versions.reserveCapacity(trace.transactions.count * agents)
    }

    mutating func run() throws(TraceReplayError) {
        if !trace.startContent.isEmpty {
            // The start content is agent 0's first op, part of every version.
            do {
                let op = try replicas[0].insert(contentsOf: trace.startContent, at: 0)
                made[0].append(op, transaction: -1, counter: 0)
                held[0][0] = UInt32(trace.startContent.count)
            } catch {
                throw .sequence(transaction: -1, error)
            }
        }
        var target = [UInt32](repeating: 0, count: agents)
        // The inserted text is read through one buffer (as in the sequential replay).
        try trace.insertedScalars.withUnsafeBufferPointer { text throws(TraceReplayError) in
            for (index, transaction) in trace.transactions.enumerated() {
                let agent = transaction.agent
                for i in target.indices { target[i] = 0 }
                if !trace.startContent.isEmpty { target[0] = UInt32(trace.startContent.count) }
                for parent in trace.parents(of: transaction) {
                    let base = Int(parent) * agents
                    for i in 0 ..< agents { target[i] = max(target[i], versions[base + i]) }
                }
                try bring(agent: agent, to: target, transaction: index)
                var counter = replicas[agent].nextCounter
                for patch in transaction.patchRange {
                    try make(trace.patches[patch], text: text, agent: agent, transaction: index, counter: &counter)
                }
                held[agent][agent] = counter
                versions.append(contentsOf: held[agent])
            }
        }
    }

    /// Applies one patch as `agent`'s local edits and records the ops made; `counter` is the
    /// first counter of the next op.
    mutating func make(_ patch: TracePatch, text: UnsafeBufferPointer<Unicode.Scalar>, agent: Int, transaction: Int,
                       counter: inout UInt32) throws(TraceReplayError) {
        guard patch.insertRange.lowerBound >= 0, patch.insertRange.upperBound <= text.count else {
            throw .insertedTextOutOfRange(transaction: transaction)
        }
        let length = replicas[agent].count
        guard patch.position >= 0, patch.position <= length, patch.deleteCount <= length - patch.position else {
            throw .patchOutOfRange(transaction: transaction, position: patch.position,
                                   deleteCount: patch.deleteCount, documentLength: length)
        }
        do throws(SequenceError) {
            if patch.deleteCount > 0 {
                for op in try replicas[agent].remove(at: patch.position, count: patch.deleteCount) {
                    record(op, by: agent, transaction: transaction, counter: &counter)
                }
            }
            if !patch.insertRange.isEmpty {
                let op = try replicas[agent].insert(contentsOf: UnsafeBufferPointer(rebasing: text[patch.insertRange]),
                                                    at: patch.position)
                record(op, by: agent, transaction: transaction, counter: &counter)
            }
        } catch {
            throw .sequence(transaction: transaction, error)
        }
    }

    /// Records `op`, moved into the op list (no retain and release of its content).
    private mutating func record(_ op: consuming SequenceOp<Unicode.Scalar>, by agent: Int, transaction: Int,
                                 counter: inout UInt32) {
        let count = op.count
        made[agent].append(op, transaction: Int32(transaction), counter: counter)
        counter += UInt32(count)
        operationCount += count
    }

    /// Merges into `agent`'s replica exactly the ops in `target` it lacks, in causal order (the
    /// trace's transaction order). A replica ahead of `target` is rebuilt from nothing.
    mutating func bring(agent: Int, to target: [UInt32], transaction: Int) throws(TraceReplayError) {
        if zip(held[agent], target).contains(where: { $0 > $1 }) {
            replicas[agent] = SequenceCRDT(replica: TraceReplayer.replicaID(agent: agent))
            held[agent] = Array(repeating: 0, count: agents)
        }
        // Per source agent, the slice of its ops to apply.
        var cursors: [(source: Int, next: Int, end: Int)] = []
        for source in 0 ..< agents where held[agent][source] < target[source] {
            let start = made[source].firstOp(atOrAfter: held[agent][source])
            let end = made[source].firstOp(atOrAfter: target[source])
            if start < end { cursors.append((source, start, end)) }
        }
        // k-way merge by transaction index.
        while true {
            var best = -1
            for (i, cursor) in cursors.enumerated() where cursor.next < cursor.end {
                if best < 0 || made[cursor.source].transactions[cursor.next]
                    < made[cursors[best].source].transactions[cursors[best].next] { best = i }
            }
            guard best >= 0 else { break }
            let (source, next) = (cursors[best].source, cursors[best].next)
            cursors[best].next += 1
            do {
                try replicas[agent].apply(made[source].ops[next])
            } catch {
                throw .sequence(transaction: transaction, error)
            }
        }
        // Element by element: assigning the array would share its buffer with the caller's
        // `target`, and the next transaction's reset of `target` would copy it.
        for source in 0 ..< agents { held[agent][source] = target[source] }
    }

    /// Merges every replica into the first, by delta extraction.
    mutating func mergeAll() throws(TraceReplayError) -> TraceReplayResult {
        var document = replicas[0]
        for other in replicas.dropFirst() {
            do {
                try document.merge(other)
            } catch {
                throw .sequence(transaction: trace.transactions.count, error)
            }
        }
        return TraceReplayResult(document: document, operationCount: operationCount + trace.startContent.count,
                                 replicaCount: agents)
    }
}

/// The ops one agent made, in the order made: each with the transaction that made it and its
/// first counter.
struct MadeOps {
    var transactions: [Int32] = []
    var counters: [UInt32] = []
    var ops: [SequenceOp<Unicode.Scalar>] = []

    init(capacity: Int) {
        transactions.reserveCapacity(capacity)
        counters.reserveCapacity(capacity)
        ops.reserveCapacity(capacity)
    }

    mutating func append(_ op: consuming SequenceOp<Unicode.Scalar>, transaction: Int32, counter: UInt32) {
        transactions.append(transaction)
        counters.append(counter)
        ops.append(op)
    }

    /// The index of the first op whose counter is at least `counter` (binary search).
    /// - Complexity: O(log ops).
    func firstOp(atOrAfter counter: UInt32) -> Int {
        var low = 0
        var high = counters.count
        while low < high {
            let mid = (low + high) / 2
            if counters[mid] < counter { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
