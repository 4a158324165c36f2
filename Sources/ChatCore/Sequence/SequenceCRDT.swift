/// A replicated sequence: the ordered list of messages in a conversation, and the text of each
/// message, are both this type.
///
/// Local edits return the operations they made; remote operations are applied in any causally
/// consistent order, and any that refer to elements not yet here wait in a bounded buffer until
/// they can be applied. Applying an operation again changes nothing. Replicas that applied the
/// same set of operations hold the same elements in the same order (the merge of operation sets
/// is commutative, associative and idempotent). Concurrent runs are ordered by FugueMax (see
/// ``SequenceCore``) and never interleave.
///
/// Storage is run-length encoded spans in an order-statistic B-tree plus an id index; elements
/// sit in one flat buffer. No object is allocated per element.
public struct SequenceCRDT<Element: Sendable>: Sendable {
    @usableFromInline var core: SequenceCore
    /// Every element ever inserted, in arrival order; spans point into it.
    @usableFromInline var content: ContiguousArray<Element> = []
    /// Remote operations waiting for elements they refer to.
    @usableFromInline var pending: [SequenceOp<Element>] = []
    @usableFromInline var _droppedPendingCount = 0
    /// What a text-first load left encoded (nil once decoded, and for sequences made or loaded
    /// otherwise). While it is set, `content` holds the visible elements alone and `core` only
    /// the replica table; see ``completeLoad()``.
    @usableFromInline var deferred: DeferredSections?

    /// The most operations that may wait in the pending buffer.
    public static var pendingLimit: Int { 65_536 }

    /// The replica that makes this sequence's local edits.
    public var replica: ReplicaID { core.localReplicaID }

    /// Creates an empty sequence edited locally by `replica`. A sequence that never serves
    /// deltas (``operations(since:)``) can drop its history (`keepsHistory: false`) to save memory.
    public init(replica: ReplicaID, keepsHistory: Bool = true) {
        core = SequenceCore(localReplica: replica, keepsHistory: keepsHistory)
    }

    /// True when the sequence keeps the history that ``operations(since:)`` needs.
    public var keepsHistory: Bool { core.keepsHistory }

    /// The number of visible elements.
    @inlinable public var count: Int { @inline(__always) get { deferred == nil ? core.visibleCount : content.count } }

    /// True when no element is visible.
    public var isEmpty: Bool { count == 0 }

    /// The number of elements including tombstones.
    public var totalCount: Int { deferred == nil ? core.totalCount : loadedForReading.totalCount }

    /// Every applied operation id, as a vector clock.
    public var clock: VectorClock { deferred == nil ? core.clock : loadedForReading.clock }

    /// The next counter a local edit uses by default.
    /// (Always inlined, to a field read: a call would copy a sequence held in an array.)
    @inlinable public var nextCounter: UInt32 {
        @inline(__always) get {
            if let deferred { return deferred.loadedNextCounter }
            return core.nextLocalCounter
        }
    }

    /// How many remote operations wait for missing elements.
    public var pendingCount: Int { pending.count }

    /// Waiting operations dropped because they turned out to be ill-formed once the elements
    /// they named arrived (for example origins in the wrong order). One bad operation never
    /// blocks the others.
    public var droppedPendingCount: Int { _droppedPendingCount }

    /// The number of spans (runs) the sequence is stored as.
    public var spanCount: Int {
        guard deferred == nil else { return loadedForReading.spanCount }
        var spans = 0
        core.tree.forEachRun { _ in spans += 1 }
        return spans
    }

    /// The visible elements in order.
    /// - Complexity: O(n).
    public var elements: [Element] {
        guard deferred == nil else { return Array(content) }
        var result: [Element] = []
        result.reserveCapacity(count)
        core.tree.forEachSpan { span in
            guard !span.isDeleted else { return }
            let start = Int(span.contentStart)
            result.append(contentsOf: content[start ..< start + Int(span.length)])
        }
        return result
    }

    /// The id of the visible element at `index`.
    /// - Complexity: O(log n).
    public mutating func id(at index: Int) throws(SequenceError) -> OpID {
        try completeLoad()
        guard index >= 0, index < count else { throw .indexOutOfBounds(index: index, count: count) }
        let position = core.tree.findVisible(index)
        let id = core.tree.id(at: position)
        return OpID(replica: core.replicas[Int(id.replica)], counter: id.counter)
    }

    /// The origins a local insert before visible index `index` would get: the visible element
    /// before it and the element (visible or not) right after that one. For callers that build
    /// operations to send through another path (a conversation applies them on receipt).
    /// - Complexity: O(log n).
    public func insertionOrigins(at index: Int) throws(SequenceError) -> (originLeft: OpID?, originRight: OpID?) {
        guard deferred == nil else { return try loadedForReading.insertionOrigins(at: index) }
        guard index >= 0, index <= count else { throw .indexOutOfBounds(index: index, count: count) }
        if index == 0 {
            guard core.tree.totalCount > 0 else { return (nil, nil) }
            return (nil, core.opID(core.tree.id(at: SpanPosition(leaf: core.tree.firstLeaf, span: 0, offset: 0))))
        }
        let left = core.tree.positionOfVisible(index - 1)
        return (core.opID(core.tree.id(at: left)), core.opID(core.tree.idAfter(left)))
    }

    /// The id of the visible element at `index`, without updating the lookup cache.
    public func visibleID(at index: Int) throws(SequenceError) -> OpID {
        guard deferred == nil else { return try loadedForReading.visibleID(at: index) }
        guard index >= 0, index < count else { throw .indexOutOfBounds(index: index, count: count) }
        let id = core.tree.id(at: core.tree.positionOfVisible(index))
        return OpID(replica: core.replicas[Int(id.replica)], counter: id.counter)
    }

    /// The visible index of element `id`, or nil when it is deleted or not here.
    /// - Complexity: O(log n).
    public func index(of id: OpID) -> Int? {
        guard deferred == nil else { return loadedForReading.index(of: id) }
        guard let local = core.localID(id), let position = core.tree.locate(local),
              !core.tree.span(at: position).isDeleted else { return nil }
        return core.tree.visibleIndex(of: position)
    }

    /// The element with id `id`, deleted or not, or nil when it is not here.
    public func element(withID id: OpID) -> Element? {
        guard deferred == nil else { return loadedForReading.element(withID: id) }
        guard let local = core.localID(id), let position = core.tree.locate(local) else { return nil }
        return content[Int(core.tree.span(at: position).contentStart + position.offset)]
    }

    /// True when every element `id ..< id + count` (ids of one replica) is here, deleted or not.
    /// - Complexity: O(log n) per run covering the range.
    public func contains(from id: OpID, count: UInt32 = 1) -> Bool {
        guard deferred == nil else { return loadedForReading.contains(from: id, count: count) }
        guard count > 0, let local = core.localID(id), UInt64(id.counter) + UInt64(count) <= UInt64(UInt32.max) else {
            return false
        }
        return core.hasElements(from: local, count: count)
    }

    /// True when a remote insert with these origins could be placed now: both are here (nil
    /// stands for the start or the end) and the origin-left comes before the origin-right.
    /// Judging this first lets a caller refuse an ill-formed insert without buffering it.
    /// - Complexity: O(log n).
    public func canPlace(originLeft: OpID?, originRight: OpID?) -> Bool {
        guard deferred == nil else { return loadedForReading.canPlace(originLeft: originLeft, originRight: originRight) }
        guard let left = resolve(originLeft), let right = resolve(originRight),
              core.hasElement(left), core.hasElement(right) else { return false }
        // The start precedes everything, and everything precedes the end (typing's usual case).
        return left.isNone || right.isNone || core.precedes(left, right)
    }

    /// The last element (deleted or not) before `bound` (nil: the end) in sequence order whose
    /// id satisfies `include`; nil when there is none. For re-anchoring an insert whose origin
    /// cannot be used: the order of elements already here never changes, so every replica that
    /// holds the same elements answers alike.
    /// - Complexity: O(n); for rare repairs, not for the editing path.
    public func lastElement(before bound: OpID?, where include: (OpID) -> Bool) -> OpID? {
        guard deferred == nil else { return loadedForReading.lastElement(before: bound, where: include) }
        var result: OpID?
        var reached = false
        core.tree.forEachSpan { span in
            guard !reached else { return }
            for offset in 0 ..< span.length {
                guard let id = core.opID(span.id.advanced(by: offset)) else { continue }
                if id == bound {
                    reached = true
                    return
                }
                if include(id) { result = id }
            }
        }
        return result
    }

    /// Hides the present elements `id ..< id + count` (ids of one replica) as if deleted,
    /// without a delete operation. For documents that keep an excluded insert only so that
    /// others anchored on it keep their order; not part of the history ``operations(since:)``
    /// serves.
    /// - Complexity: O(log n) per run.
    public mutating func hide(from id: OpID, count: UInt32) {
        guard (try? completeLoad()) != nil, contains(from: id, count: count), let local = core.localID(id) else { return }
        core.hide(from: local, count: count)
    }

    // MARK: Local edits

    /// Inserts `elements` before visible index `index` (`0 ... count`) as one run, using the
    /// counters from `firstCounter` (default: the next unused one).
    /// - Returns: the insert operation to send to other replicas.
    /// - Complexity: O(1) when typing on at the last edit position; otherwise O(log n).
    @inlinable
    @discardableResult
    public mutating func insert(
        contentsOf elements: some Collection<Element>, at index: Int, firstCounter: UInt32? = nil
    ) throws(SequenceError) -> SequenceOp<Element> {
        let (counter, origins) = try integrateLocalInsert(contentsOf: elements, at: index, firstCounter: firstCounter)
        return .insert(SequenceInsert(
            id: OpID(replica: replica, counter: counter),
            originLeft: core.opID(origins.originLeft), originRight: core.opID(origins.originRight),
            content: Array(elements)))
    }

    /// The edit of ``insert(contentsOf:at:firstCounter:)`` without building the operation to
    /// send (no allocation for it): for replaying a document's own history, where nothing is
    /// sent. Returns the id of the first inserted element.
    /// - Complexity: O(1) when typing on at the last edit position; otherwise O(log n).
    @inlinable
    @discardableResult
    public mutating func insertLocally(
        contentsOf elements: some Collection<Element>, at index: Int, firstCounter: UInt32? = nil
    ) throws(SequenceError) -> OpID {
        OpID(replica: replica, counter: try integrateLocalInsert(contentsOf: elements, at: index, firstCounter: firstCounter).counter)
    }

    @inlinable
    mutating func integrateLocalInsert(contentsOf elements: some Collection<Element>, at index: Int, firstCounter: UInt32?)
        throws(SequenceError) -> (counter: UInt32, origins: (originLeft: LocalID, originRight: LocalID))
    {
        let length = elements.count
        // Checked and placed in one call; the content follows (the tree reads none of it).
        let placed: (counter: UInt32, originLeft: LocalID, originRight: LocalID)
        do {
            placed = try core.checkedLocalInsert(at: index, count: length, firstCounter: firstCounter,
                                                 contentStart: UInt32(truncatingIfNeeded: content.count))
        } catch {
            // The core of an incomplete text-first load refuses edits (checked there, not on
            // every keystroke here): complete it and edit again.
            guard deferred != nil else { throw error }
            try completeLoad()
            placed = try core.checkedLocalInsert(at: index, count: length, firstCounter: firstCounter,
                                                 contentStart: UInt32(truncatingIfNeeded: content.count))
        }
        // One typed element is appended as one (a bulk append of one copies it through memmove).
        if length == 1, let element = elements.first { content.append(element) } else { content.append(contentsOf: elements) }
        return (placed.counter, (placed.originLeft, placed.originRight))
    }

    /// Inserts one element before visible index `index`.
    @inlinable
    @discardableResult
    public mutating func insert(_ element: Element, at index: Int) throws(SequenceError) -> SequenceOp<Element> {
        try insert(contentsOf: CollectionOfOne(element), at: index)
    }

    /// Deletes `count` visible elements from visible index `index`.
    /// - Returns: the delete operations to send (one per run of consecutive target ids).
    /// - Complexity: O(runs · log n).
    @inlinable
    @discardableResult
    public mutating func remove(at index: Int, count: Int = 1, firstCounter: UInt32? = nil)
        throws(SequenceError) -> [SequenceOp<Element>]
    {
        let runs = try integrateLocalRemove(at: index, count: count, firstCounter: firstCounter)
        let replica = self.replica
        return runs.map { run in
            .delete(SequenceDelete(
                id: OpID(replica: replica, counter: run.counter),
                target: OpID(replica: core.replicas[Int(run.target.replica)], counter: run.target.counter),
                count: run.count))
        }
    }

    /// The edit of ``remove(at:count:firstCounter:)`` without building the operations to send;
    /// returns how many there would be (one per run of consecutive target ids).
    /// - Complexity: O(runs · log n).
    @inlinable
    @discardableResult
    public mutating func removeLocally(at index: Int, count: Int = 1, firstCounter: UInt32? = nil) throws(SequenceError) -> Int {
        let counter = try checkLocalRemove(at: index, count: count, firstCounter: firstCounter)
        var runs = 0
        core.localDelete(at: index, count: count, counter: counter) { _ in runs += 1 }
        return runs
    }

    @inlinable
    mutating func integrateLocalRemove(at index: Int, count: Int, firstCounter: UInt32?) throws(SequenceError) -> [DeleteRun] {
        let counter = try checkLocalRemove(at: index, count: count, firstCounter: firstCounter)
        return core.localDelete(at: index, count: count, counter: counter)
    }

    /// Checks a local removal; returns the counter of its first delete.
    @inlinable
    mutating func checkLocalRemove(at index: Int, count: Int, firstCounter: UInt32?) throws(SequenceError) -> UInt32 {
        do {
            return try core.checkLocalEdit(at: index, count: count, firstCounter: firstCounter, inserting: false)
        } catch {
            // As in a local insert: an incomplete text-first load is completed first.
            guard deferred != nil else { throw error }
            try completeLoad()
            return try core.checkLocalEdit(at: index, count: count, firstCounter: firstCounter, inserting: false)
        }
    }


    // MARK: Remote operations

    /// Applies an operation from another replica (or this one's own, replayed).
    ///
    /// Parts already applied are skipped; an operation whose origins or targets are missing
    /// waits in the pending buffer and is applied as soon as they arrive (with `waits: false`
    /// it is not kept: the outcome is `.pending` and nothing changed). A waiting operation that
    /// proves ill-formed when it can finally be placed is dropped and counted
    /// (``droppedPendingCount``); it never fails the operation that released it.
    /// - Throws: ``SequenceError`` for an empty, overflowing or ill-formed operation, or when
    ///   the pending buffer is full.
    /// - Complexity: O(log n) per run in the common case.
    @inlinable
    @discardableResult
    public mutating func apply(_ op: SequenceOp<Element>, waits: Bool = true) throws(SequenceError) -> SequenceApplyOutcome {
        if deferred != nil { try completeLoad() }
        return try applyLoaded(op, waits: waits)
    }

    /// ``apply(_:waits:)`` once any text-first load is complete.
    @inlinable
    mutating func applyLoaded(_ op: SequenceOp<Element>, waits: Bool) throws(SequenceError) -> SequenceApplyOutcome {
        let outcome = try applyNow(op)
        switch outcome {
        case .applied:
            if !pending.isEmpty { drainPending() }
        case .pending:
            guard waits else { return .pending }
            guard pending.count < Self.pendingLimit else { throw .pendingBufferFull(limit: Self.pendingLimit) }
            pending.append(op)
        case .duplicate:
            break
        }
        return outcome
    }

    /// Applies operations in order.
    @inlinable
    public mutating func apply(contentsOf ops: some Sequence<SequenceOp<Element>>) throws(SequenceError) {
        if deferred != nil { try completeLoad() }
        for op in ops { _ = try applyLoaded(op, waits: true) }
    }

    /// Applies what the pending buffer can, until nothing more can be applied.
    /// Each waiting operation is judged on its own: one that throws is dropped (counted) and the
    /// rest go on, so no operation can wedge the buffer.
    @inlinable
    mutating func drainPending() {
        var progress = true
        while progress, !pending.isEmpty {
            progress = false
            var waiting: [SequenceOp<Element>] = []
            for op in pending {
                do {
                    switch try applyNow(op) {
                    case .pending: waiting.append(op)
                    case .applied, .duplicate: progress = true
                    }
                } catch {
                    _droppedPendingCount += 1
                    progress = true
                }
            }
            pending = waiting
        }
    }

    @inlinable
    mutating func applyNow(_ op: SequenceOp<Element>) throws(SequenceError) -> SequenceApplyOutcome {
        switch op {
        case .insert(let insert):
            return try applyInsert(insert)
        case .delete(let delete):
            return try applyDelete(delete)
        }
    }

    @inlinable
    mutating func applyInsert(_ insert: SequenceInsert<Element>) throws(SequenceError) -> SequenceApplyOutcome {
        guard !insert.content.isEmpty else { throw .emptyOperation }
        let first = insert.id.counter
        let length = try SequenceCore.checkedLength(insert.content.count, counter: first)
        let author = core.intern(insert.id.replica)
        guard let originLeft = resolve(insert.originLeft), let originRight = resolve(insert.originRight),
              core.hasElement(originRight) else { return .pending }
        // The common case: nothing of the op seen yet (no array of parts).
        if core.isUnseen(replica: author, counters: first ..< first + length) {
            guard core.hasElement(originLeft) else { return .pending }
            try integrate(insert, part: first ..< first + length, author: author, originLeft: originLeft, originRight: originRight)
            return .applied
        }
        let parts = core.unseen(replica: author, counters: first ..< first + length)
        guard !parts.isEmpty else { return .duplicate }
        for part in parts {
            let left = part.lowerBound == first ? originLeft : LocalID(replica: author, counter: part.lowerBound - 1)
            guard core.hasElement(left) else { return .pending }
        }
        for part in parts {
            let left = part.lowerBound == first ? originLeft : LocalID(replica: author, counter: part.lowerBound - 1)
            try integrate(insert, part: part, author: author, originLeft: left, originRight: originRight)
        }
        return .applied
    }

    /// Places and stores the elements `part` of a remote insert.
    @inlinable
    mutating func integrate(_ insert: SequenceInsert<Element>, part: Range<UInt32>, author: UInt32,
                            originLeft: LocalID, originRight: LocalID) throws(SequenceError) {
        let id = LocalID(replica: author, counter: part.lowerBound)
        let destination = try core.placementPosition(of: id, originLeft: originLeft, originRight: originRight)
        let contentStart = UInt32(truncatingIfNeeded: content.count)
        let offset = Int(part.lowerBound - insert.id.counter)
        content.append(contentsOf: insert.content[offset ..< offset + part.count])
        core.integrateInsert(id: id, count: UInt32(part.count), originLeft: originLeft, originRight: originRight,
                             contentStart: contentStart, at: destination)
    }

    /// The local form of an origin: `.none` for nil, nil when the replica is unknown here.
    @inlinable
    func resolve(_ origin: OpID?) -> LocalID? {
        guard let origin else { return LocalID.none }
        return core.localID(origin)
    }

    @inlinable
    mutating func applyDelete(_ delete: SequenceDelete) throws(SequenceError) -> SequenceApplyOutcome {
        guard delete.count > 0 else { throw .emptyOperation }
        let first = delete.id.counter
        _ = try SequenceCore.checkedLength(Int(delete.count), counter: first)
        _ = try SequenceCore.checkedLength(Int(delete.count), counter: delete.target.counter)
        let author = core.intern(delete.id.replica)
        // The common case: nothing of the op seen yet (no array of parts).
        if core.isUnseen(replica: author, counters: first ..< first + delete.count) {
            guard let target = core.localID(delete.target), core.hasElements(from: target, count: delete.count) else {
                return .pending
            }
            core.integrateDelete(id: LocalID(replica: author, counter: first), target: target, count: delete.count)
            return .applied
        }
        let parts = core.unseen(replica: author, counters: first ..< first + delete.count)
        guard !parts.isEmpty else { return .duplicate }
        guard let target = core.localID(delete.target) else { return .pending }
        for part in parts {
            let partTarget = target.advanced(by: part.lowerBound - first)
            guard core.hasElements(from: partTarget, count: UInt32(part.count)) else { return .pending }
        }
        for part in parts {
            core.integrateDelete(
                id: LocalID(replica: author, counter: part.lowerBound),
                target: target.advanced(by: part.lowerBound - first), count: UInt32(part.count))
        }
        return .applied
    }
}

extension SequenceCRDT where Element == Unicode.Scalar {
    /// The visible text.
    public var text: String { Self.string(of: elements) }

    /// `scalars` as a string, built from their UTF-8 (several times faster than appending them
    /// to a `String.UnicodeScalarView`, which goes through generic witnesses per scalar).
    /// - Complexity: O(n).
    static func string(of scalars: [Unicode.Scalar]) -> String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(scalars.count)
        for scalar in scalars {
            if scalar.value < 0x80 {
                utf8.append(UInt8(truncatingIfNeeded: scalar.value))
            } else {
                utf8.append(contentsOf: UTF8.encode(scalar) ?? UTF8.EncodedScalar())
            }
        }
        return String(decoding: utf8, as: UTF8.self)
    }
}
