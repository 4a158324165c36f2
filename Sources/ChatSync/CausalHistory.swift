import ChatCore
import ChatWire

/// Every batch of one conversation whose causal past is complete, by hash, with that past.
///
/// A batch names its previous batch and the heads it saw since (``BatchDependency``); its causal
/// past is the closure of those, so every replica that holds the same batches derives the same
/// past, whatever the author claims. The past is kept as a vector clock (``past(of:)``) because
/// the conversation's rules judge operations by counters.
///
/// Storage stays proportional to what is new per batch: each record keeps only the entries of
/// its past that differ from its *base* (its previous batch, or for a first batch its first
/// dependency) plus the base itself, and every 32nd record along a base chain keeps its whole
/// past as a checkpoint. A past is rebuilt from the nearest checkpoint (at most 31 deltas), and
/// the most recent pasts are cached, so a batch that names the latest heads costs one lookup.
///
/// Records are *main* (accepted on their author's chain: applied) or *side* (a branch of an
/// author who forked, kept so that honest batches built on it get their exact past). Heads, the
/// main batches that no main batch names, are what this replica's next batch depends on.
public struct CausalHistory: Sendable {
    /// One batch in the history.
    struct Record: Sendable {
        let author: ReplicaID
        let firstCounter: UInt32
        let end: UInt32
        let hash: [UInt8]
        /// The record this one's past extends, or -1 for none (the genesis).
        let base: Int32
        /// Steps from the last checkpoint along base links.
        let depth: UInt8
        /// The entries of the past that differ from the base's past with the base included.
        let delta: [(ReplicaID, UInt32)]
        /// The whole past, every 32nd record along a base chain.
        let checkpoint: VectorClock?
    }

    /// A record's whole past is kept every this many steps along base links.
    static let checkpointSpacing: UInt8 = 32
    /// How many recent pasts are cached whole.
    static let cacheSize = 16

    private var records: [Record] = []
    private var indexByHash: [BatchVerifier.BatchHash: Int32] = [:]
    /// Main records no main record names.
    private var headIndices: Set<Int32> = []
    /// Recent pasts, by record index (a small ring).
    private var cache: [(index: Int32, past: VectorClock)] = []
    private var cacheNext = 0

    public init() {}

    /// How many batches the history holds.
    public var count: Int { records.count }

    /// True when the batch with this hash is in the history.
    public func contains(_ hash: [UInt8]) -> Bool { indexByHash[BatchVerifier.BatchHash(bytes: hash)] != nil }

    /// What `dependency` names, checked: nil when the hash is unknown here, else whether the
    /// batch it names has that author and reaches that count.
    public func matches(_ dependency: BatchDependency) -> Bool? {
        guard let index = indexByHash[BatchVerifier.BatchHash(bytes: dependency.hash)] else { return nil }
        let record = records[Int(index)]
        return record.author == dependency.replica && record.end == dependency.count
    }

    /// The heads to name in a new batch by `author`: every main batch no main batch names, but
    /// the author's own (its previous batch is named by hash already). Sorted by replica.
    /// A batch names at most one dependency per author: should two heads share one (an author
    /// who forked), the one reaching further.
    public func dependencies(for author: ReplicaID) -> [BatchDependency] {
        var byAuthor: [ReplicaID: Record] = [:]
        for index in headIndices {
            let record = records[Int(index)]
            guard record.author != author else { continue }
            if let other = byAuthor[record.author], other.end >= record.end { continue }
            byAuthor[record.author] = record
        }
        return byAuthor.values.map { BatchDependency(replica: $0.author, count: $0.end, hash: $0.hash) }.sorted()
    }

    /// The causal past of the batch with `hash` (its author's own entry is its first counter),
    /// or nil when the batch is not in the history.
    /// - Complexity: O(authors) plus up to 31 deltas, O(1) when cached.
    public mutating func past(of hash: [UInt8]) -> VectorClock? {
        guard let index = indexByHash[BatchVerifier.BatchHash(bytes: hash)] else { return nil }
        return past(at: index)
    }

    /// The causal past of a batch whose previous batch and dependencies are all in the history
    /// (see ``missingReferences(of:)``): the union of each referenced batch's past with that
    /// batch included.
    /// - Complexity: O(authors × references).
    public mutating func derivePast(of content: BatchContent) -> VectorClock {
        derivePast(author: content.author, firstCounter: content.firstCounter, references: Self.references(of: content))
    }

    private mutating func derivePast(author: ReplicaID, firstCounter: UInt32, references named: [BatchDependency]) -> VectorClock {
        let references = referencedIndices(named)
        guard let first = references.first else { return VectorClock() }
        var past = after(first)
        for index in references.dropFirst() { past.merge(after(index)) }
        if firstCounter > 0 { past[author] = max(past[author], firstCounter) }
        return past
    }

    /// Adds a stored batch read back by its header (``ChatWire/BatchHeader``), with the end
    /// counter and hash its store record keeps: the same as ``add(_:past:main:)`` without
    /// decoding its operations. False (nothing added) while something it names is missing.
    /// - Complexity: as ``derivePast(of:)`` plus ``add(_:past:main:)``.
    @discardableResult
    public mutating func restore(_ header: BatchHeader, hash: [UInt8], end: UInt32, main: Bool) -> Bool {
        let references = header.references
        guard references.allSatisfy({ contains($0.hash) }) else { return false }
        let past = derivePast(author: header.author, firstCounter: header.firstCounter, references: references)
        insert(hash: hash, author: header.author, firstCounter: header.firstCounter, end: end, references: references,
               past: past, main: main)
        return true
    }

    /// Adds an authenticated batch with the past ``derivePast(of:)`` gave it. A `main` batch
    /// continues its author's chain and becomes a head; a side batch is a branch of a fork.
    /// - Complexity: O(authors) to find what differs from its base.
    public mutating func add(_ batch: AuthenticatedBatch, past: VectorClock, main: Bool) {
        let content = batch.batch.content
        insert(hash: batch.hash, author: content.author, firstCounter: content.firstCounter, end: batch.endCounter,
               references: Self.references(of: content), past: past, main: main)
    }

    private mutating func insert(hash: [UInt8], author: ReplicaID, firstCounter: UInt32, end: UInt32,
                                 references named: [BatchDependency], past: VectorClock, main: Bool) {
        let key = BatchVerifier.BatchHash(bytes: hash)
        let references = referencedIndices(named)
        if let known = indexByHash[key] {
            // Kept as a side batch first (its author forked), accepted on the chain now.
            if main { promote(known, references: references) }
            return
        }
        let base = references.first ?? -1
        let depth: UInt8 = base < 0 ? 0 : (records[Int(base)].depth &+ 1) % Self.checkpointSpacing
        var delta: [(ReplicaID, UInt32)] = []
        // One reference: the past is its base's with the base included (the own entry of a
        // chained batch is its previous batch's end), so nothing differs.
        if depth != 0, references.count > 1 {
            let baseAfter = after(base)
            _ = past.allEntries { replica, count in
                if baseAfter[replica] != count { delta.append((replica, count)) }
                return true
            }
        }
        let index = Int32(records.count)
        records.append(Record(author: author, firstCounter: firstCounter, end: end,
                              hash: hash, base: base, depth: depth, delta: delta,
                              checkpoint: depth == 0 ? past : nil))
        indexByHash[key] = index
        if main { promote(index, references: references) }
        remember(index, past)
    }

    /// Makes record `index` a head in place of the main records it names.
    private mutating func promote(_ index: Int32, references: [Int32]) {
        for reference in references { headIndices.remove(reference) }
        headIndices.insert(index)
    }

    /// The references of `content` that are not in the history yet: its previous batch and its
    /// dependencies, as dependencies to ask peers for.
    public func missingReferences(of content: BatchContent) -> [BatchDependency] {
        ((content.previousBatch.map { [$0] } ?? []) + content.dependencies).filter { !contains($0.hash) }
    }

    /// What a batch names: its previous batch first (its base), then its dependencies.
    private static func references(of content: BatchContent) -> [BatchDependency] {
        (content.previousBatch.map { [$0] } ?? []) + content.dependencies
    }

    /// Record indices of named batches, in order; all must be present.
    private func referencedIndices(_ references: [BatchDependency]) -> [Int32] {
        references.compactMap { indexByHash[BatchVerifier.BatchHash(bytes: $0.hash)] }
    }

    /// The past of record `index` with the record itself included.
    private mutating func after(_ index: Int32) -> VectorClock {
        var clock = past(at: index)
        let record = records[Int(index)]
        clock[record.author] = max(clock[record.author], record.end)
        return clock
    }

    /// Rebuilds the past of record `index` from its nearest checkpoint.
    private mutating func past(at index: Int32) -> VectorClock {
        if let cached = cache.first(where: { $0.index == index }) { return cached.past }
        var chain: [Int32] = []
        var current = index
        var clock = VectorClock()
        while current >= 0 {
            if let cached = cache.first(where: { $0.index == current }) {
                clock = cached.past
                break
            }
            let record = records[Int(current)]
            if let checkpoint = record.checkpoint {
                clock = checkpoint
                break
            }
            chain.append(current)
            current = record.base
        }
        // `clock` is the past of `current`; walk forward applying each delta after its base.
        for step in chain.reversed() {
            let record = records[Int(step)]
            let base = records[Int(record.base)]
            clock[base.author] = max(clock[base.author], base.end)
            for (replica, count) in record.delta { clock[replica] = count }
        }
        remember(index, clock)
        return clock
    }

    private mutating func remember(_ index: Int32, _ past: VectorClock) {
        if cache.count < Self.cacheSize {
            cache.append((index, past))
        } else {
            cache[cacheNext] = (index, past)
            cacheNext = (cacheNext + 1) % Self.cacheSize
        }
    }
}
