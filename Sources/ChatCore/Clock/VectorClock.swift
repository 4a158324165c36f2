/// How two vector clocks relate in the happened-before partial order.
public enum ClockOrdering: Sendable, Hashable {
    case equal, before, after, concurrent
}

/// A vector clock: for each replica, how many of its operations have been seen.
///
/// Counters are dense, so a clock value `n` for replica `r` means "ops `r@0 ..< r@n`". Missing
/// entries are 0. Merging is the pointwise maximum: commutative, associative and idempotent.
public struct VectorClock: Hashable, Sendable, CustomStringConvertible {
    private var counts: [ReplicaID: UInt32]

    /// The empty clock: nothing seen.
    public init() { counts = [:] }

    /// A clock from explicit per-replica counts; zero entries are dropped.
    public init(_ counts: [ReplicaID: UInt32]) {
        self.counts = counts.filter { $0.value > 0 }
    }

    /// The number of operations of `replica` this clock covers.
    public subscript(replica: ReplicaID) -> UInt32 {
        get { counts[replica] ?? 0 }
        set { counts[replica] = newValue == 0 ? nil : newValue }
    }

    /// True when `predicate` holds for every non-zero entry (in no particular order).
    /// - Complexity: O(entries), without sorting or allocating.
    public func allEntries(satisfy predicate: (ReplicaID, UInt32) throws -> Bool) rethrows -> Bool {
        for (replica, count) in counts where try !predicate(replica, count) { return false }
        return true
    }

    /// Replicas with a non-zero entry, sorted (deterministic iteration for encoders).
    public var replicas: [ReplicaID] { counts.keys.sorted() }

    /// Entries sorted by replica.
    public var entries: [(replica: ReplicaID, count: UInt32)] {
        counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// True when the operation `id` is covered by this clock.
    public func contains(_ id: OpID) -> Bool { id.counter < self[id.replica] }

    /// Raises `replica`'s entry to cover `id` and every earlier operation of that replica.
    public mutating func advance(toCover id: OpID) {
        let next = id.counter &+ 1
        if next > self[id.replica] { self[id.replica] = next }
    }

    /// Pointwise maximum with `other`.
    /// - Complexity: O(entries in `other`).
    public mutating func merge(_ other: VectorClock) {
        for (replica, count) in other.counts where count > self[replica] {
            counts[replica] = count
        }
    }

    /// The pointwise maximum of `self` and `other`.
    public func merged(with other: VectorClock) -> VectorClock {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Compares in the happened-before partial order.
    /// - Complexity: O(entries in both clocks).
    public func compare(_ other: VectorClock) -> ClockOrdering {
        var someLess = false
        var someGreater = false
        for replica in Set(counts.keys).union(other.counts.keys) {
            let mine = self[replica]
            let theirs = other[replica]
            if mine < theirs { someLess = true }
            if mine > theirs { someGreater = true }
        }
        switch (someLess, someGreater) {
        case (false, false): return .equal
        case (true, false): return .before
        case (false, true): return .after
        case (true, true): return .concurrent
        }
    }

    /// True when everything `self` covers is covered by `other` (`self ≤ other`).
    public func isCovered(by other: VectorClock) -> Bool {
        counts.allSatisfy { $0.value <= other[$0.key] }
    }

    /// True when `self` strictly happened before `other`.
    public func happenedBefore(_ other: VectorClock) -> Bool { compare(other) == .before }

    /// True when neither clock covers the other.
    public func isConcurrent(with other: VectorClock) -> Bool { compare(other) == .concurrent }

    /// The operations `other` covers and `self` does not: "ops above this clock", per replica,
    /// sorted by replica.
    public func missing(from other: VectorClock) -> [(replica: ReplicaID, counters: Range<UInt32>)] {
        other.entries.compactMap { entry in
            let mine = self[entry.replica]
            return mine < entry.count ? (entry.replica, mine ..< entry.count) : nil
        }
    }

    /// The total number of operations covered.
    public var totalCount: Int { counts.values.reduce(0) { $0 + Int($1) } }

    public var description: String {
        "{" + entries.map { "\($0.replica):\($0.count)" }.joined(separator: ", ") + "}"
    }
}
