/// One entry of a sequence's history in the order it was applied (a causally consistent order):
/// an insert of `count` elements, or a deletion of `count` elements starting at `target`.
struct LogEntry: Sendable {
    var id: LocalID
    var count: UInt32
    /// `.none` for inserts.
    var target: LocalID
    var isInsert: Bool { target.isNone }
}

/// A run of deleted elements made by one local delete.
@usableFromInline
struct DeleteRun: Sendable {
    @usableFromInline var counter: UInt32
    @usableFromInline var target: LocalID
    @usableFromInline var count: UInt32
}

/// The element-agnostic part of a sequence CRDT: document order, ids, origins, tombstones, and
/// history. ``SequenceCRDT`` adds the elements themselves.
///
/// The ordering rule is FugueMax, in the formulation of YjsMod: Weidner & Kleppmann, "The Art of
/// the Fugue: Minimizing Interleaving in Collaborative Text Editing" (IEEE TPDS 2025,
/// arXiv:2305.00583), and `josephg/reference-crdts` (`integrateYjsMod`). Concurrent runs typed
/// at one place are never interleaved, forwards or backwards.
@usableFromInline
struct SequenceCore: Sendable {
    var tree = SpanTree()
    /// Replica table: local index → replica. Looked up linearly while small (most message bodies
    /// have one or two authors); a dictionary is built past ``replicaDictionaryThreshold``.
    @usableFromInline var replicas = ReplicaTable()
    @usableFromInline var replicaNumbers: [ReplicaID: UInt32] = [:]
    static let replicaDictionaryThreshold = 8
    /// History in application order, for delta extraction (empty when not kept).
    var log: ContiguousArray<LogEntry> = []
    /// False for sequences that never serve deltas (message bodies): saves memory.
    let keepsHistory: Bool
    /// The replica that makes local edits; interned on its first edit.
    @usableFromInline let localReplicaID: ReplicaID
    /// Its local index once interned, else `.max`: local edits look it up on every keystroke,
    /// and finding it in the table compares 32-byte ids.
    @usableFromInline private(set) var localNumber = UInt32.max

    @usableFromInline
    init(localReplica replica: ReplicaID, keepsHistory: Bool = true) {
        localReplicaID = replica
        self.keepsHistory = keepsHistory
    }

    // Always inlined, these small reads: called from a mutating method, an out-of-line
    // non-mutating call copies the whole core to pass it (a 136-byte memcpy, then a stalled load).
    @usableFromInline var visibleCount: Int { @inline(__always) get { tree.visibleCount } }
    @usableFromInline var totalCount: Int { @inline(__always) get { tree.totalCount } }

    /// The local index of `replica`, if it has one.
    @usableFromInline @inline(__always)
    func number(of replica: ReplicaID) -> UInt32? {
        if replicas.count > Self.replicaDictionaryThreshold { return replicaNumbers[replica] }
        return replicas.firstIndex(of: replica).map { UInt32($0) }
    }

    /// The local index for `replica`, adding it to the table when new.
    @usableFromInline
    mutating func intern(_ replica: ReplicaID) -> UInt32 {
        if let number = number(of: replica) { return number }
        let number = UInt32(replicas.count)
        replicas.append(replica)
        if replica == localReplicaID { localNumber = number }
        if replicas.count > Self.replicaDictionaryThreshold {
            if replicaNumbers.isEmpty {
                for (index, known) in replicas.ids.enumerated() { replicaNumbers[known] = UInt32(index) }
            } else {
                replicaNumbers[replica] = number
            }
        }
        return number
    }

    /// The local replica's index (interned on first use).
    @usableFromInline
    var localReplica: UInt32 {
        mutating get { localNumber != .max ? localNumber : intern(localReplicaID) }
    }

    /// The local replica's index, if it has one.
    @usableFromInline var localNumberIfInterned: UInt32? {
        @inline(__always) get { localNumber != .max ? localNumber : nil }
    }

    /// The next counter the local replica would use: one past its highest applied counter.
    @usableFromInline @inline(__always)
    var nextLocalCounter: UInt32 {
        localNumberIfInterned.map { replicas.entries[Int($0)].seen.upperBound } ?? 0
    }

    /// True when none of `counters` of the local replica has been used.
    @usableFromInline @inline(__always)
    func localCountersAreFree(_ counters: Range<UInt32>) -> Bool {
        guard let local = localNumberIfInterned else { return true }
        return replicas.entries[Int(local)].seen.isDisjoint(with: counters)
    }

    /// The local form of `id`; nil when its replica is unknown here (so the element is missing).
    @usableFromInline @inline(__always)
    func localID(_ id: OpID) -> LocalID? {
        number(of: id.replica).map { LocalID(replica: $0, counter: id.counter) }
    }

    @usableFromInline @inline(__always)
    func opID(_ id: LocalID) -> OpID? {
        id.isNone ? nil : OpID(replica: replicas[Int(id.replica)], counter: id.counter)
    }

    /// One past the highest counter applied for `replica`.
    @usableFromInline
    func nextCounter(of replica: UInt32) -> UInt32 { replicas.entries[Int(replica)].seen.upperBound }

    /// The parts of `counters` of `replica` not yet applied.
    @usableFromInline
    func unseen(replica: UInt32, counters: Range<UInt32>) -> [Range<UInt32>] {
        replicas.entries[Int(replica)].seen.missing(in: counters)
    }

    /// True when none of `counters` of `replica` has been applied.
    @usableFromInline
    func isUnseen(replica: UInt32, counters: Range<UInt32>) -> Bool {
        replicas.entries[Int(replica)].seen.isDisjoint(with: counters)
    }

    /// True when `id` is an element of the sequence (or `.none`, which always exists).
    @usableFromInline
    func hasElement(_ id: LocalID) -> Bool { id.isNone || tree.contains(id) }

    @usableFromInline
    func hasElements(from id: LocalID, count: UInt32) -> Bool {
        tree.containsAll(from: id, count: count)
    }

    /// Every applied id, as a vector clock (one past the highest counter per replica).
    @usableFromInline
    var clock: VectorClock {
        var clock = VectorClock()
        for entry in replicas.entries where !entry.seen.isEmpty {
            clock[entry.id] = entry.seen.upperBound
        }
        return clock
    }

    // MARK: Local edits

    /// Checks a local edit of `count` elements at visible index `index` (an insert when
    /// `inserting`, else a delete of `index ..< index + count`), whose ids start at `firstCounter`
    /// or else at the next local counter; returns that first counter.
    ///
    /// Mutating, like the edit that follows it, so that a caller in another module hands over the
    /// core in place rather than a copy of it (a non-mutating call copies the whole struct).
    @usableFromInline
    mutating func checkLocalEdit(at index: Int, count: Int, firstCounter: UInt32?, inserting: Bool) throws(SequenceError) -> UInt32 {
        let visible = visibleCount
        guard count > 0 else { throw .emptyOperation }
        if inserting {
            guard index >= 0, index <= visible else { throw .indexOutOfBounds(index: index, count: visible) }
        } else {
            guard index >= 0, index <= visible - count else {
                // The last index asked for, saturated (a count near Int.max must not trap here).
                let last = index.addingReportingOverflow(count - 1)
                throw .indexOutOfBounds(index: last.overflow ? .max : last.partialValue, count: visible)
            }
        }
        let local = localNumberIfInterned
        let seenEnd = local.map { replicas.entries[Int($0)].seen.upperBound } ?? 0
        let counter = firstCounter ?? seenEnd
        let length = try Self.checkedLength(count, counter: counter)
        // Counters from the end of those used are free; earlier ones may fall in a gap.
        if counter < seenEnd, let local, !replicas.entries[Int(local)].seen.isDisjoint(with: counter ..< counter + length) {
            throw .counterAlreadyUsed(OpID(replica: localReplicaID, counter: counter))
        }
        return counter
    }

    /// Checks a local insert of `count` elements at visible index `index` and makes it (see
    /// ``checkLocalEdit(at:count:firstCounter:inserting:)`` and
    /// ``localInsert(at:count:counter:contentStart:)``): one call from a caller in another
    /// module per keystroke. Returns the first counter and the origins; changes nothing when it
    /// throws.
    @usableFromInline
    mutating func checkedLocalInsert(at index: Int, count: Int, firstCounter: UInt32?, contentStart: UInt32)
        throws(SequenceError) -> (counter: UInt32, originLeft: LocalID, originRight: LocalID) {
        let counter = try checkLocalEdit(at: index, count: count, firstCounter: firstCounter, inserting: true)
        let origins = localInsert(at: index, count: UInt32(count), counter: counter, contentStart: contentStart)
        return (counter, origins.originLeft, origins.originRight)
    }

    /// `count` as the length of ids from `counter`: they must end below `UInt32.max` (which
    /// `LocalID.none` uses).
    @usableFromInline @inline(__always)
    static func checkedLength(_ count: Int, counter: UInt32) throws(SequenceError) -> UInt32 {
        guard counter < UInt32.max, count <= Int(UInt32.max - 1 - counter) else { throw .counterOverflow }
        return UInt32(count)
    }

    /// Inserts `count` new elements with ids `counter ..< counter + count` before visible index
    /// `index`, right after the visible element `index - 1`. Returns the origins.
    /// - Complexity: O(1) tree work when typing on where the last edit was; else O(log n).
    @usableFromInline
    mutating func localInsert(at index: Int, count: UInt32, counter: UInt32, contentStart: UInt32)
        -> (originLeft: LocalID, originRight: LocalID)
    {
        let local = localReplica
        let id = LocalID(replica: local, counter: counter)
        var originLeft = LocalID.none
        let originRight: LocalID
        var extended = false
        if index == 0 {
            let start = SpanPosition(leaf: tree.firstLeaf, span: 0, offset: 0)
            originRight = tree.totalCount > 0 ? tree.id(at: start) : .none
            tree.insert(
                Span(id: id, length: count, originLeft: .none, originRight: originRight,
                     contentStart: contentStart, isDeleted: false),
                at: start, isLocal: true)
        } else {
            let left = tree.findVisible(index - 1)
            let span = tree.span(at: left)
            originLeft = span.id.advanced(by: left.offset)
            originRight = tree.idAfter(left)
            if left.offset + 1 == span.length, span.id.replica == local,
               span.id.counter &+ span.length == counter, span.originRight == originRight,
               span.contentStart &+ span.length == contentStart {
                tree.extend(at: left, by: count)
                extended = true
            } else {
                let after = left.offset + 1 == span.length
                    ? SpanPosition(leaf: left.leaf, span: left.span + 1, offset: 0)
                    : SpanPosition(leaf: left.leaf, span: left.span, offset: left.offset + 1)
                tree.insert(
                    Span(id: id, length: count, originLeft: originLeft, originRight: originRight,
                         contentStart: contentStart, isDeleted: false),
                    at: after, isLocal: true)
            }
        }
        replicas.entries[Int(local)].seen.insert(counter ..< counter &+ count)
        recordInsert(id: id, count: count, continuesPrevious: extended)
        checkInvariants()
        return (originLeft, originRight)
    }

    /// Deletes `count` visible elements from visible index `index`, using ids from `counter`.
    /// Returns one run per stretch of consecutive target ids.
    /// - Complexity: O(runs · log n).
    @usableFromInline
    mutating func localDelete(at index: Int, count: Int, counter: UInt32) -> [DeleteRun] {
        var runs: [DeleteRun] = []
        localDelete(at: index, count: count, counter: counter) { runs.append($0) }
        return runs
    }

    /// ``localDelete(at:count:counter:)`` handing each run to `each` as it is complete, with
    /// no array of runs (a local replay deletes without sending anything).
    /// - Complexity: O(runs · log n).
    @usableFromInline
    mutating func localDelete(at index: Int, count: Int, counter: UInt32, _ each: (DeleteRun) -> Void) {
        let local = localReplica
        replicas.entries[Int(local)].seen.insert(counter ..< counter &+ UInt32(count))
        var current: DeleteRun?
        var remaining = UInt32(count)
        var next = counter
        while remaining > 0 {
            let position = tree.findVisible(index)
            let marked = tree.markDeleted(at: position, count: remaining)
            if let run = current, run.target.replica == marked.first.replica, run.target.counter &+ run.count == marked.first.counter {
                current?.count += marked.covered
            } else {
                if let run = current { finish(run) }
                current = DeleteRun(counter: next, target: marked.first, count: marked.covered)
            }
            next &+= marked.covered
            remaining -= marked.covered
        }
        if let run = current { finish(run) }
        checkInvariants()

        func finish(_ run: DeleteRun) {
            recordDelete(id: LocalID(replica: local, counter: run.counter), target: run.target, count: run.count)
            each(run)
        }
    }

    // MARK: Remote operations

    /// Where a remote insert with these origins goes: the position it is inserted before. Both
    /// origins must be present.
    /// - Complexity: O(log n). When the origin-right is the element right after the origin-left
    ///   (no concurrent insert between them: the usual case), one lookup and no index
    ///   arithmetic; otherwise O(k log n) for k concurrent spans between them.
    ///
    /// Mutating, though it changes nothing, like ``checkLocalEdit(at:count:firstCounter:inserting:)``:
    /// the remote insert's caller in another module then hands over the core in place, not a
    /// copy of it (a 220-byte memcpy per operation, then a stalled load of the copy).
    @usableFromInline
    mutating func placementPosition(of id: LocalID, originLeft: LocalID, originRight: LocalID) throws(SequenceError) -> SpanPosition {
        if !originLeft.isNone, let left = tree.locate(originLeft), tree.idAfter(left) == originRight {
            return tree.position(after: left)
        }
        return tree.findTotal(try placement(of: id, originLeft: originLeft, originRight: originRight))
    }

    /// Where a remote insert with these origins goes: its index among all elements (tombstones
    /// included). Both origins must be present.
    /// - Complexity: O(log n) when no concurrent insert sits between the origins; otherwise
    ///   O(k log n) for k concurrent spans between them.
    func placement(of id: LocalID, originLeft: LocalID, originRight: LocalID) throws(SequenceError) -> Int {
        let total = tree.totalCount
        let leftIndex = index(of: originLeft, ifNone: -1)
        let rightIndex = index(of: originRight, ifNone: total)
        guard leftIndex < rightIndex else {
            throw .invalidOrigins(OpID(replica: replicas[Int(id.replica)], counter: id.counter))
        }
        var destination = leftIndex + 1
        guard destination < rightIndex else { return destination }

        // Scan the concurrent region between the origins (YjsMod / FugueMax).
        var scanning = false
        var i = leftIndex + 1
        var position = tree.findTotal(i)
        let newReplica = replicas[Int(id.replica)]
        while true {
            if !scanning { destination = i }
            if i >= rightIndex || i >= total { break }
            let span = tree.span(at: position)
            let otherLeft = position.offset > 0 ? i - 1 : index(of: span.originLeft, ifNone: -1)
            if otherLeft < leftIndex { break }
            if otherLeft == leftIndex {
                let otherRight = index(of: span.originRight, ifNone: total)
                if otherRight < rightIndex {
                    scanning = true
                } else if otherRight == rightIndex {
                    if newReplica < replicas[Int(span.id.replica)] { break }
                    scanning = false
                } else {
                    scanning = false
                }
            }
            // Later elements of this span have their predecessor as origin-left: skip them.
            let rest = Int(span.length - position.offset)
            if i + rest <= rightIndex {
                i += rest
                position = tree.nextSpan(after: position)
            } else {
                position.offset += UInt32(rightIndex - i)
                i = rightIndex
            }
        }
        return destination
    }

    /// True when `left` comes before `right` among all elements (`.none` on the left is the
    /// start, on the right the end). Both must be present.
    /// - Complexity: O(log n).
    @usableFromInline
    func precedes(_ left: LocalID, _ right: LocalID) -> Bool {
        index(of: left, ifNone: -1) < index(of: right, ifNone: tree.totalCount)
    }

    /// Marks `count` present elements from `target` deleted without recording a delete
    /// operation: for elements that are kept only to order others (excluded inserts).
    @usableFromInline
    mutating func hide(from target: LocalID, count: UInt32) {
        markDeleted(from: target, count: count)
        checkInvariants()
    }

    /// Marks the present elements `target ..< target + count` deleted.
    private mutating func markDeleted(from target: LocalID, count: UInt32) {
        var remaining = count
        var next = target
        while remaining > 0, let position = tree.locate(next) {
            let marked = tree.markDeleted(at: position, count: remaining)
            next = next.advanced(by: marked.covered)
            remaining -= marked.covered
        }
    }

    /// The index among all elements of `id`, or `ifNone` for `.none`.
    private func index(of id: LocalID, ifNone: Int) -> Int {
        guard !id.isNone, let position = tree.locate(id) else { return ifNone }
        return tree.totalIndex(of: position)
    }

    /// Inserts a remote run at the position `placementPosition(of:…)` returned.
    @usableFromInline
    mutating func integrateInsert(id: LocalID, count: UInt32, originLeft: LocalID, originRight: LocalID,
                                  contentStart: UInt32, at position: SpanPosition)
    {
        // Read before the insert, which leaves the origin-left's span's origin-right as it is.
        let continues = keepsHistory && originLeft == LocalID(replica: id.replica, counter: id.counter &- 1)
            && tree.locate(originLeft).map { tree.span(at: $0).originRight == originRight } == true
        tree.insert(
            Span(id: id, length: count, originLeft: originLeft, originRight: originRight,
                 contentStart: contentStart, isDeleted: false),
            at: position)
        replicas.entries[Int(id.replica)].seen.insert(id.counter ..< id.counter &+ count)
        recordInsert(id: id, count: count, continuesPrevious: continues)
        checkInvariants()
    }

    /// Applies a remote deletion whose targets are all present.
    @usableFromInline
    mutating func integrateDelete(id: LocalID, target: LocalID, count: UInt32) {
        markDeleted(from: target, count: count)
        replicas.entries[Int(id.replica)].seen.insert(id.counter ..< id.counter &+ count)
        recordDelete(id: id, target: target, count: count)
        checkInvariants()
    }

    // MARK: History

    @inline(__always)
    private mutating func recordInsert(id: LocalID, count: UInt32, continuesPrevious: Bool) {
        guard keepsHistory else { return }
        if continuesPrevious, let last = log.last, last.isInsert, last.id.replica == id.replica,
           last.id.counter &+ last.count == id.counter {
            log[log.count - 1].count += count
        } else {
            log.append(LogEntry(id: id, count: count, target: .none))
        }
    }

    @inline(__always)
    private mutating func recordDelete(id: LocalID, target: LocalID, count: UInt32) {
        guard keepsHistory else { return }
        if let last = log.last, !last.isInsert, last.id.replica == id.replica,
           last.id.counter &+ last.count == id.counter, last.target.replica == target.replica,
           last.target.counter &+ last.count == target.counter {
            log[log.count - 1].count += count
        } else {
            log.append(LogEntry(id: id, count: count, target: target))
        }
    }

    #if CHAT_INTERNAL_CHECKS
    /// Mutations since creation; large sequences are fully checked every 4096th mutation so that
    /// debug replays of long traces stay linear.
    private var mutationCount = 0
    #endif

    @inline(__always)
    mutating func checkInvariants() {
        #if CHAT_INTERNAL_CHECKS
        mutationCount += 1
        // Every mutation of a small sequence (where the property tests work), every 1,024th of
        // a larger one: a full check costs O(n), so checking each would make tests O(n²).
        if tree.totalCount <= 1024 || mutationCount % 1024 == 0 { _checkInvariants() }
        #endif
    }
}

#if CHAT_INTERNAL_CHECKS
extension SequenceCore {
    /// Tree structure, id index, and that every element's id was recorded as applied.
    func _checkInvariants() {
        tree._checkInvariants()
        tree.forEachSpan { span in
            precondition(replicas.entries[Int(span.id.replica)].seen.contains(span.id.counter ..< span.id.counter + span.length),
                         "element not recorded as applied")
        }
    }
}
#endif
