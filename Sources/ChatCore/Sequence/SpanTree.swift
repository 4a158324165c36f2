/// Where an element sits in a ``SpanTree``: leaf, span within the leaf, element within the span.
/// `span == leaf.spans.count` (offset 0) is the end of that leaf.
@usableFromInline
struct SpanPosition: Hashable, Sendable {
    var leaf: Int32
    var span: Int
    var offset: UInt32
}

/// An order-statistic B-tree of spans: the document order of every element ever inserted
/// (tombstones included), with per-node counts of visible and of all elements.
///
/// Nodes live in two flat arrays and refer to each other by index, so there is no object per
/// element or per span and no reference counting on the hot path. Leaves are also chained in
/// document order. An ``IDIndex`` maps element ids to leaves.
///
/// - Complexity: visible index → element, element → position, insert: O(log n) spans, with
///   a leaf scan of at most ``leafCapacity`` spans; a cached leaf makes local typing O(1) tree work.
struct SpanTree: Sendable {
    static let leafCapacity = 32
    static let innerCapacity = 32

    struct Leaf: Sendable {
        var spans: ContiguousArray<Span> = []
        var parent: Int32 = -1
        var next: Int32 = -1
        var visible = 0
        var total = 0
    }

    struct Inner: Sendable {
        var children: ContiguousArray<Int32> = []
        var parent: Int32 = -1
        var visible = 0
        var total = 0
        /// True when `children` index `leaves`, false when they index `inners`.
        var childrenAreLeaves: Bool
    }

    private(set) var leaves: ContiguousArray<Leaf> = [Leaf()]
    private(set) var inners: ContiguousArray<Inner> = []
    /// Index into `leaves` when `height == 0`, else into `inners`.
    private(set) var root: Int32 = 0
    private(set) var height = 0
    private(set) var index = IDIndex()

    /// The leaf last found by visible index and the visible index of its first element; valid
    /// until a mutation touches another leaf.
    private var cachedLeaf: Int32 = -1
    private var cachedLeafStart = 0
    /// Within the cached leaf, a span index and the visible offset in the leaf of the span at
    /// that index: typing on, or deleting backwards, finds its place without scanning the leaf,
    /// and a lookup near it scans from it. The offset depends only on the spans before the
    /// index, so a change at or after the index keeps it (``changed(_:at:)``).
    private var cachedSpan = -1
    private var cachedSpanStart = 0
    /// Count changes of one leaf not yet added to its ancestors: typing in one leaf changes
    /// only its counts, and the ancestors catch up when another leaf changes or the tree is
    /// restructured (``flushCounts()``). Readers of inner counts add them where due
    /// (``pendingPath()``). Not used in trees taller than ``pendingPathLimit``.
    private var pendingLeaf: Int32 = -1
    private var pendingVisible = 0
    private var pendingTotal = 0
    private static let pendingPathLimit = 8
    /// The ids last assigned to a leaf, not yet written to ``index``: typing on lengthens this
    /// run, which is written once (O(run / 16)) when ids go elsewhere or a leaf splits. Lookups
    /// that miss the index check it (``indexedLeaf(of:)``). Empty while `count` is 0.
    private var unindexed = UnindexedRun(id: .none, count: 0, leaf: -1)

    private struct UnindexedRun {
        var id: LocalID
        var count: UInt32
        var leaf: Int32

        func contains(_ other: LocalID) -> Bool {
            other.replica == id.replica && other.counter &- id.counter < count
        }

        /// True when `other` is the id right after the run's last one.
        func isContinued(by other: LocalID) -> Bool {
            count > 0 && other.replica == id.replica && UInt64(id.counter) + UInt64(count) == UInt64(other.counter)
        }
    }

    init() {}

    var visibleCount: Int { @inline(__always) get { height == 0 ? leaves[Int(root)].visible : inners[Int(root)].visible + pendingVisible } }
    var totalCount: Int { @inline(__always) get { height == 0 ? leaves[Int(root)].total : inners[Int(root)].total + pendingTotal } }
    var firstLeaf: Int32 { 0 }

    /// Makes this empty tree (the core of a text-first load not yet complete) refuse every
    /// local edit: its visible count becomes −1, so each edit's bounds check fails, at no cost
    /// to the edits of other trees. ``SequenceCRDT`` then completes the load and edits again.
    mutating func refusesLocalEdits() {
        precondition(height == 0 && leaves[0].spans.isEmpty, "only an empty tree") // SAFETY: called on a new core only
        leaves[0].visible = -1
    }

    @inline(__always)
    func span(at position: SpanPosition) -> Span {
        leaves[Int(position.leaf)].spans[position.span]
    }

    @inline(__always)
    func id(at position: SpanPosition) -> LocalID {
        span(at: position).id.advanced(by: position.offset)
    }

    // MARK: Finding

    /// The position of the visible element with visible index `index` (`0 ..< visibleCount`).
    /// - Complexity: O(1) at the cached span; O(distance) spans from it within the cached
    ///   leaf; else O(log n) with a leaf scan.
    @inline(__always)
    mutating func findVisible(_ index: Int) -> SpanPosition {
        if cachedSpan >= 0, index >= cachedLeafStart {
            // The cached span's leaf is the cached leaf (the span is dropped with the leaf).
            let offset = index - cachedLeafStart - cachedSpanStart
            if offset >= 0, cachedSpan < leaves[Int(cachedLeaf)].spans.count,
               offset < leaves[Int(cachedLeaf)].spans[cachedSpan].visibleLength {
                return SpanPosition(leaf: cachedLeaf, span: cachedSpan, offset: UInt32(offset))
            }
        }
        return findVisibleOffCache(index)
    }

    /// ``findVisible(_:)`` past the cached span.
    private mutating func findVisibleOffCache(_ index: Int) -> SpanPosition {
        var leaf: Int32
        var remaining: Int
        let position: SpanPosition
        if cachedLeaf >= 0, index >= cachedLeafStart,
           index - cachedLeafStart < leaves[Int(cachedLeaf)].visible {
            leaf = cachedLeaf
            remaining = index - cachedLeafStart
            if cachedSpan >= 0, cachedSpan < leaves[Int(leaf)].spans.count {
                // Not in the cached span itself (``findVisible(_:)`` looked there): after it or before.
                if remaining >= cachedSpanStart {
                    position = scanVisible(remaining, in: leaf, from: cachedSpan + 1,
                                           start: cachedSpanStart + leaves[Int(leaf)].spans[cachedSpan].visibleLength)
                } else {
                    position = scanVisibleBackwards(remaining, in: leaf, before: cachedSpan, start: cachedSpanStart)
                }
            } else {
                position = scanVisible(remaining, in: leaf)
            }
        } else {
            (leaf, remaining) = descend(visible: index)
            cachedLeaf = leaf
            cachedLeafStart = index - remaining
            position = scanVisible(remaining, in: leaf)
        }
        if position.span < leaves[Int(leaf)].spans.count {
            cachedSpan = position.span
            cachedSpanStart = remaining - Int(position.offset)
        } else {
            cachedSpan = -1
        }
        return position
    }

    /// The position of the visible element `remaining` within `leaf`, scanning from span `first`,
    /// whose visible offset in the leaf is `start`.
    /// - Complexity: O(spans scanned).
    private func scanVisible(_ remaining: Int, in leaf: Int32, from first: Int = 0, start: Int = 0) -> SpanPosition {
        var remaining = remaining - start
        return leaves[Int(leaf)].spans.withUnsafeBufferPointer { spans in
            for i in first ..< spans.count {
                let visible = spans[i].visibleLength
                if remaining < visible {
                    return SpanPosition(leaf: leaf, span: i, offset: UInt32(remaining))
                }
                remaining -= visible
            }
            return SpanPosition(leaf: leaf, span: spans.count, offset: 0)
        }
    }

    /// The position of the visible element `remaining` within `leaf`, which lies before span
    /// `end`, whose visible offset in the leaf is `start` (> `remaining`).
    /// - Complexity: O(spans scanned).
    private func scanVisibleBackwards(_ remaining: Int, in leaf: Int32, before end: Int, start: Int) -> SpanPosition {
        var start = start
        let found: SpanPosition? = leaves[Int(leaf)].spans.withUnsafeBufferPointer { spans in
            for i in stride(from: end - 1, through: 0, by: -1) {
                let visible = spans[i].visibleLength
                start -= visible
                if visible > 0, remaining >= start {
                    return SpanPosition(leaf: leaf, span: i, offset: UInt32(remaining - start))
                }
            }
            return nil
        }
        // Not found only if the cache were wrong (`remaining` ≥ 0 lies in some span before `end`).
        return found ?? scanVisible(remaining, in: leaf)
    }

    /// Like ``findVisible(_:)`` but without touching the cache (for read-only callers).
    func positionOfVisible(_ index: Int) -> SpanPosition {
        let (leaf, remaining) = descend(visible: index)
        return scanVisible(remaining, in: leaf)
    }

    /// Descends by visible count; returns the leaf and the visible offset within it.
    private func descend(visible index: Int) -> (Int32, Int) {
        var node = root
        var remaining = index
        var level = height
        let path = pendingPath()
        while level > 0 {
            let inner = inners[Int(node)]
            var chosen = inner.children[inner.children.count - 1]
            let pending = pendingNode(atLevel: level - 1, path: path)
            for child in inner.children.dropLast() {
                var count = level == 1 ? leaves[Int(child)].visible : inners[Int(child)].visible
                if child == pending { count += pendingVisible }
                if remaining < count { chosen = child; break }
                remaining -= count
            }
            node = chosen
            level -= 1
        }
        return (node, remaining)
    }

    /// The position of the element at `total` (counting tombstones), or the end position when
    /// `total == totalCount`.
    func findTotal(_ total: Int) -> SpanPosition {
        var node = root
        var remaining = total
        var level = height
        let path = pendingPath()
        while level > 0 {
            let inner = inners[Int(node)]
            var chosen = inner.children[inner.children.count - 1]
            let pending = pendingNode(atLevel: level - 1, path: path)
            for child in inner.children.dropLast() {
                var count = level == 1 ? leaves[Int(child)].total : inners[Int(child)].total
                if child == pending { count += pendingTotal }
                if remaining < count { chosen = child; break }
                remaining -= count
            }
            node = chosen
            level -= 1
        }
        let spans = leaves[Int(node)].spans
        for (i, span) in spans.enumerated() {
            if remaining < Int(span.length) {
                return SpanPosition(leaf: node, span: i, offset: UInt32(remaining))
            }
            remaining -= Int(span.length)
        }
        return SpanPosition(leaf: node, span: spans.count, offset: 0)
    }

    /// The position of element `id`, or nil when it is not in the tree.
    /// Inlined: called out of line from a mutating method, it was handed a copy of the tree.
    @inline(__always)
    func locate(_ id: LocalID) -> SpanPosition? {
        // A single-leaf tree (most message bodies) keeps no index: scanning ≤ 32 spans is as fast.
        let leaf: Int32
        if height == 0 {
            leaf = root
        } else {
            guard let indexed = indexedLeaf(of: id) else { return nil }
            leaf = indexed
        }
        return leaves[Int(leaf)].spans.withUnsafeBufferPointer { spans in
            for (i, span) in spans.enumerated() where span.contains(id) {
                return SpanPosition(leaf: leaf, span: i, offset: id.counter &- span.id.counter)
            }
            return nil
        }
    }

    /// True when `id` is an element of the tree.
    func contains(_ id: LocalID) -> Bool {
        height == 0 ? locate(id) != nil : indexedLeaf(of: id) != nil
    }

    /// True when every id in `id ..< id + count` is an element.
    func containsAll(from id: LocalID, count: UInt32) -> Bool {
        guard height == 0 else { return indexContainsAll(from: id, count: count) }
        var next = id
        var remaining = count
        while remaining > 0 {
            guard let position = locate(next) else { return false }
            let run = min(remaining, span(at: position).length - position.offset)
            next = next.advanced(by: run)
            remaining -= run
        }
        return true
    }

    /// Records ids → leaf, once the tree has more than one leaf: ids that continue the
    /// unindexed run in the same leaf lengthen it; others write it to the index and start anew.
    /// - Complexity: O(1) typing on; O(run / 16) when a run is written.
    private mutating func indexIfNeeded(from id: LocalID, count: UInt32, leaf: Int32) {
        guard height > 0 else { return }
        if leaf == unindexed.leaf, unindexed.isContinued(by: id) {
            unindexed.count += count
            return
        }
        flushIndex()
        unindexed = UnindexedRun(id: id, count: count, leaf: leaf)
    }

    /// Writes the unindexed run to the index (before ids are assigned directly).
    private mutating func flushIndex() {
        guard unindexed.count > 0 else { return }
        index.assign(from: unindexed.id, count: unindexed.count, to: unindexed.leaf)
        unindexed.count = 0
    }

    /// The leaf holding `id` by the index or else the unindexed run. The run's ids are new to
    /// the tree (inserted, or typed on, since the run began), so the index holds none of them:
    /// the run is looked at only when the index misses.
    private func indexedLeaf(of id: LocalID) -> Int32? {
        if let leaf = index.leaf(of: id) { return leaf }
        return unindexed.contains(id) ? unindexed.leaf : nil
    }

    /// True when every id in `id ..< id + count` is in the index or the unindexed run.
    private func indexContainsAll(from id: LocalID, count: UInt32) -> Bool {
        let start = UInt64(id.counter), end = start + UInt64(count)
        let runStart = UInt64(unindexed.id.counter), runEnd = runStart + UInt64(unindexed.count)
        guard unindexed.count > 0, id.replica == unindexed.id.replica, start < runEnd, runStart < end else {
            return index.containsAll(from: id, count: count)
        }
        // The run's part is held; the parts before and after it must be in the index.
        if start < runStart, !index.containsAll(from: id, count: UInt32(runStart - start)) { return false }
        if runEnd < end, !index.containsAll(from: LocalID(replica: id.replica, counter: UInt32(runEnd)), count: UInt32(end - runEnd)) {
            return false
        }
        return true
    }

    /// The number of elements (tombstones included) before `position`.
    func totalIndex(of position: SpanPosition) -> Int {
        var sum = Int(position.offset)
        let spans = leaves[Int(position.leaf)].spans
        for i in 0 ..< position.span { sum += Int(spans[i].length) }
        return sum + countBefore(leaf: position.leaf, visible: false)
    }

    /// The number of visible elements before `position`.
    func visibleIndex(of position: SpanPosition) -> Int {
        let spans = leaves[Int(position.leaf)].spans
        var sum = position.span < spans.count && !spans[position.span].isDeleted ? Int(position.offset) : 0
        for i in 0 ..< position.span { sum += spans[i].visibleLength }
        return sum + countBefore(leaf: position.leaf, visible: true)
    }

    /// Elements in leaves before `leaf`, summed up the parent chain.
    private func countBefore(leaf: Int32, visible: Bool) -> Int {
        var sum = 0
        var child = leaf
        var parent = leaves[Int(leaf)].parent
        var level = 0
        let path = pendingPath()
        while parent >= 0 {
            let pending = pendingNode(atLevel: level, path: path)
            for sibling in inners[Int(parent)].children {
                if sibling == child { break }
                if level == 0 {
                    sum += visible ? leaves[Int(sibling)].visible : leaves[Int(sibling)].total
                } else {
                    sum += visible ? inners[Int(sibling)].visible : inners[Int(sibling)].total
                    if sibling == pending { sum += visible ? pendingVisible : pendingTotal }
                }
            }
            child = parent
            parent = inners[Int(parent)].parent
            level += 1
        }
        return sum
    }

    /// The id of the element that follows `position`'s element, or `.none` at the end.
    @inline(__always)
    func idAfter(_ position: SpanPosition) -> LocalID {
        let leaf = leaves[Int(position.leaf)]
        let span = leaf.spans[position.span]
        if position.offset + 1 < span.length { return span.id.advanced(by: position.offset + 1) }
        if position.span + 1 < leaf.spans.count { return leaf.spans[position.span + 1].id }
        return leaf.next >= 0 ? leaves[Int(leaf.next)].spans[0].id : .none
    }

    /// The position of the element after `position`'s element (or the end): where an insert
    /// right after it goes, as ``findTotal(_:)`` would find it.
    func position(after position: SpanPosition) -> SpanPosition {
        if position.offset + 1 < leaves[Int(position.leaf)].spans[position.span].length {
            return SpanPosition(leaf: position.leaf, span: position.span, offset: position.offset + 1)
        }
        return nextSpan(after: position)
    }

    /// The position of the first element of the span after `position`'s span (or the end).
    func nextSpan(after position: SpanPosition) -> SpanPosition {
        let leaf = leaves[Int(position.leaf)]
        if position.span + 1 < leaf.spans.count {
            return SpanPosition(leaf: position.leaf, span: position.span + 1, offset: 0)
        }
        if leaf.next >= 0 { return SpanPosition(leaf: leaf.next, span: 0, offset: 0) }
        return SpanPosition(leaf: position.leaf, span: leaf.spans.count, offset: 0)
    }

    /// Calls `body` with every span in document order.
    func forEachSpan(_ body: (Span) throws -> Void) rethrows {
        var leaf: Int32 = firstLeaf
        while leaf >= 0 {
            for span in leaves[Int(leaf)].spans { try body(span) }
            leaf = leaves[Int(leaf)].next
        }
    }

    /// Calls `body` with maximal runs in document order: spans that continue each other across
    /// a leaf boundary are joined, so the result does not depend on how the tree was split.
    func forEachRun(_ body: (Span) throws -> Void) rethrows {
        var run: Span?
        try forEachSpan { span in
            if let current = run, current.canAppend(span) {
                run?.length += span.length
            } else {
                if let current = run { try body(current) }
                run = span
            }
        }
        if let run { try body(run) }
    }

    // MARK: Mutating

    /// Inserts `span` before the element at `position`, splitting the span there if needed,
    /// and merges it with a neighbour it continues. A local insert (`isLocal`) starts the
    /// unindexed run, which typing on lengthens; a remote one is indexed at once, so the
    /// lookups of the remote operations that follow find it in the index.
    mutating func insert(_ span: Span, at position: SpanPosition, isLocal: Bool = false) {
        let leaf = position.leaf
        var slot = position.span
        touch(leaf)
        if position.offset > 0 {
            let back = leaves[Int(leaf)].spans[slot].split(at: position.offset)
            leaves[Int(leaf)].spans.insert(back, at: slot + 1)
            slot += 1
        }
        if slot > 0, leaves[Int(leaf)].spans[slot - 1].canAppend(span) {
            leaves[Int(leaf)].spans[slot - 1].length += span.length
            slot -= 1
        } else {
            leaves[Int(leaf)].spans.insert(span, at: slot)
        }
        // The split, if any, changed the span at `position.span`; the rest came at or after `slot`.
        changed(leaf, at: min(position.span, slot))
        if isLocal {
            indexIfNeeded(from: span.id, count: span.length, leaf: leaf)
        } else if height > 0 {
            // New ids, distinct from the unindexed run's: it can stay unwritten.
            index.assign(from: span.id, count: span.length, to: leaf)
        }
        addCounts(leaf: leaf, visible: span.visibleLength, total: Int(span.length))
        coalesce(leaf: leaf, at: slot)
        splitIfFull(leaf)
    }

    /// Lengthens the span at `position` by `count` elements (a replica typing on).
    @inline(__always)
    mutating func extend(at position: SpanPosition, by count: UInt32) {
        touch(position.leaf)
        changed(position.leaf, at: position.span)
        let first = leaves[Int(position.leaf)].spans[position.span].id
            .advanced(by: leaves[Int(position.leaf)].spans[position.span].length)
        leaves[Int(position.leaf)].spans[position.span].length += count
        indexIfNeeded(from: first, count: count, leaf: position.leaf)
        let visible = leaves[Int(position.leaf)].spans[position.span].isDeleted ? 0 : Int(count)
        addCounts(leaf: position.leaf, visible: visible, total: Int(count))
    }

    /// Marks up to `count` elements deleted, starting at `position` and staying within its span.
    /// Returns the first id touched, how many elements were covered, and how many of them were
    /// visible before (0 when the span was already deleted).
    mutating func markDeleted(at position: SpanPosition, count: UInt32) -> (first: LocalID, covered: UInt32, newlyDeleted: UInt32) {
        let leaf = position.leaf
        var slot = position.span
        let span = leaves[Int(leaf)].spans[slot]
        let covered = min(count, span.length - position.offset)
        let first = span.id.advanced(by: position.offset)
        if span.isDeleted { return (first, covered, 0) }
        touch(leaf)
        changed(leaf, at: slot)
        if mergeDeletedIntoNeighbour(at: position, covered: covered) {
            addCounts(leaf: leaf, visible: -Int(covered), total: 0)
            return (first, covered, covered)
        }
        if position.offset > 0 {
            let back = leaves[Int(leaf)].spans[slot].split(at: position.offset)
            leaves[Int(leaf)].spans.insert(back, at: slot + 1)
            slot += 1
        }
        if covered < leaves[Int(leaf)].spans[slot].length {
            let back = leaves[Int(leaf)].spans[slot].split(at: covered)
            leaves[Int(leaf)].spans.insert(back, at: slot + 1)
        }
        leaves[Int(leaf)].spans[slot].isDeleted = true
        addCounts(leaf: leaf, visible: -Int(covered), total: 0)
        coalesce(leaf: leaf, at: slot)
        splitIfFull(leaf)
        return (first, covered, covered)
    }

    /// Deletes `covered` elements at `position` (within a visible span) by moving them into the
    /// neighbouring deleted span when they continue each other: the span's end into a deleted
    /// span after it (backspacing on), or its start onto one before it. No span is inserted
    /// or removed. Returns false, changing nothing, otherwise. Counts are the caller's.
    /// - Complexity: O(1).
    private mutating func mergeDeletedIntoNeighbour(at position: SpanPosition, covered: UInt32) -> Bool {
        let leaf = Int(position.leaf), slot = position.span
        let span = leaves[leaf].spans[slot]
        if position.offset > 0, position.offset + covered == span.length, slot + 1 < leaves[leaf].spans.count {
            var front = span
            var deleted = front.split(at: position.offset)
            deleted.isDeleted = true
            guard deleted.canAppend(leaves[leaf].spans[slot + 1]) else { return false }
            deleted.length += leaves[leaf].spans[slot + 1].length
            leaves[leaf].spans[slot] = front
            leaves[leaf].spans[slot + 1] = deleted
            return true
        }
        if position.offset == 0, covered < span.length, slot > 0 {
            var deleted = span
            let rest = deleted.split(at: covered)
            deleted.isDeleted = true
            guard leaves[leaf].spans[slot - 1].canAppend(deleted) else { return false }
            changed(position.leaf, at: slot - 1)
            leaves[leaf].spans[slot - 1].length += covered
            leaves[leaf].spans[slot] = rest
            return true
        }
        return false
    }

    /// Builds a tree directly from spans already in document order (loading a saved state).
    /// - Complexity: O(spans + elements).
    mutating func bulkLoad(_ spans: ContiguousArray<Span>) {
        if totalCount > 0 || leaves.count > 1 { self = SpanTree() }
        let fill = Self.leafCapacity * 3 / 4
        // One leaf's worth of maximal runs (a message body): take the array as the leaf.
        if spans.count <= fill, !zip(spans, spans.dropFirst()).contains(where: { $0.canAppend($1) }) {
            leaves[0].spans = spans
            for span in spans {
                leaves[0].visible += span.visibleLength
                leaves[0].total += Int(span.length)
            }
            return
        }
        leaves[0].spans.reserveCapacity(min(spans.count, fill))
        var current = 0
        for span in spans {
            if let last = leaves[current].spans.last, last.canAppend(span) {
                leaves[current].spans[leaves[current].spans.count - 1].length += span.length
                leaves[current].visible += span.visibleLength
                leaves[current].total += Int(span.length)
                continue
            }
            if leaves[current].spans.count == fill {
                leaves.append(Leaf())
                leaves[current].next = Int32(leaves.count - 1)
                current = leaves.count - 1
            }
            leaves[current].spans.append(span)
            leaves[current].visible += span.visibleLength
            leaves[current].total += Int(span.length)
        }
        if leaves.count > 1 {
            // Pages of ids, if dense: most are kept in their entries (see ``IDIndex``).
            let pages = leaves.reduce(0) { $0 + $1.total } >> 4
            // Dense tables up to each replica's highest id, when dense enough: the spans come in
            // document order, not counter order.
            var highest: [UInt32] = [] // by replica number (checked against the state's replicas)
            for span in spans {
                let replica = Int(span.id.replica)
                if replica >= highest.count { highest.append(contentsOf: repeatElement(0, count: replica - highest.count + 1)) }
                highest[replica] = max(highest[replica], span.lastID.counter)
            }
            for (replica, counter) in highest.enumerated() {
                index.reserveDense(replica: UInt32(replica), through: counter, pages: pages + spans.count)
            }
            for (number, leaf) in leaves.enumerated() {
                for span in leaf.spans { index.assign(from: span.id, count: span.length, to: Int32(number)) }
            }
        }
        guard leaves.count > 1 else { return }
        // Build inner levels bottom-up.
        var level: [Int32] = (0 ..< leaves.count).map { Int32($0) }
        var childrenAreLeaves = true
        height = 0
        while level.count > 1 {
            var parents: [Int32] = []
            var start = 0
            while start < level.count {
                let end = min(level.count, start + fill)
                var inner = Inner(childrenAreLeaves: childrenAreLeaves)
                let innerIndex = Int32(inners.count)
                for child in level[start ..< end] {
                    inner.children.append(child)
                    if childrenAreLeaves {
                        leaves[Int(child)].parent = innerIndex
                        inner.visible += leaves[Int(child)].visible
                        inner.total += leaves[Int(child)].total
                    } else {
                        inners[Int(child)].parent = innerIndex
                        inner.visible += inners[Int(child)].visible
                        inner.total += inners[Int(child)].total
                    }
                }
                inners.append(inner)
                parents.append(innerIndex)
                start = end
            }
            level = parents
            childrenAreLeaves = false
            height += 1
        }
        root = level.first ?? 0
    }

    // MARK: Internals

    /// Drops the cached leaf when a mutation happens elsewhere (its start may have moved).
    @inline(__always)
    private mutating func touch(_ leaf: Int32) {
        if leaf != cachedLeaf {
            cachedLeaf = -1
            cachedSpan = -1
        }
    }

    /// Records that the span at `slot` of `leaf` changed, or that one was inserted or removed
    /// there: the cached span's offset stays right unless `slot` is before it.
    @inline(__always)
    private mutating func changed(_ leaf: Int32, at slot: Int) {
        if leaf == cachedLeaf, slot < cachedSpan { cachedSpan = -1 }
    }

    /// Adds to `leaf`'s counts; its ancestors' follow later (see `pendingLeaf`).
    /// - Complexity: O(1) while the same leaf changes; O(height) when another leaf does.
    @inline(__always)
    private mutating func addCounts(leaf: Int32, visible: Int, total: Int) {
        leaves[Int(leaf)].visible += visible
        leaves[Int(leaf)].total += total
        guard height > 0 else { return }
        if leaf != pendingLeaf {
            guard switchPendingLeaf(to: leaf) else {
                addToAncestors(of: leaf, visible: visible, total: total)
                return
            }
        }
        pendingVisible += visible
        pendingTotal += total
    }

    /// Flushes the pending leaf's changes and makes `leaf` the pending one; false (no leaf
    /// pending) in a tree too tall to track.
    private mutating func switchPendingLeaf(to leaf: Int32) -> Bool {
        flushCounts()
        guard height <= Self.pendingPathLimit else { return false }
        pendingLeaf = leaf
        return true
    }

    /// Adds the pending count changes to the pending leaf's ancestors.
    private mutating func flushCounts() {
        guard pendingLeaf >= 0 else { return }
        addToAncestors(of: pendingLeaf, visible: pendingVisible, total: pendingTotal)
        pendingLeaf = -1
        pendingVisible = 0
        pendingTotal = 0
    }

    private mutating func addToAncestors(of leaf: Int32, visible: Int, total: Int) {
        var parent = leaves[Int(leaf)].parent
        while parent >= 0 {
            inners[Int(parent)].visible += visible
            inners[Int(parent)].total += total
            parent = inners[Int(parent)].parent
        }
    }

    /// The pending leaf's inner ancestors by level (its parent first; -1 past the root), for
    /// readers to add the pending changes to.
    /// - Complexity: O(height).
    @inline(__always)
    private func pendingPath() -> SIMD8<Int32> {
        var path = SIMD8<Int32>(repeating: -1)
        guard pendingLeaf >= 0 else { return path }
        var parent = leaves[Int(pendingLeaf)].parent
        var level = 0
        while parent >= 0 {
            path[level] = parent
            parent = inners[Int(parent)].parent
            level += 1
        }
        return path
    }

    /// The inner node at `level` (1: a parent of leaves) whose counts lack the pending changes,
    /// or -1 (at level 0, leaves' counts are always whole).
    @inline(__always)
    private func pendingNode(atLevel level: Int, path: SIMD8<Int32>) -> Int32 {
        level >= 1 && level <= Self.pendingPathLimit ? path[level - 1] : -1
    }

    /// Merges the span at `slot` with neighbours it continues (keeps span counts low after
    /// deletes and remote typing). Counts are unchanged; ids stay in the same leaf.
    private mutating func coalesce(leaf: Int32, at slot: Int) {
        var slot = slot
        if slot > 0, leaves[Int(leaf)].spans[slot - 1].canAppend(leaves[Int(leaf)].spans[slot]) {
            leaves[Int(leaf)].spans[slot - 1].length += leaves[Int(leaf)].spans[slot].length
            leaves[Int(leaf)].spans.remove(at: slot)
            slot -= 1
            changed(leaf, at: slot)
        }
        if slot + 1 < leaves[Int(leaf)].spans.count,
           leaves[Int(leaf)].spans[slot].canAppend(leaves[Int(leaf)].spans[slot + 1]) {
            leaves[Int(leaf)].spans[slot].length += leaves[Int(leaf)].spans[slot + 1].length
            leaves[Int(leaf)].spans.remove(at: slot + 1)
            changed(leaf, at: slot)
        }
    }

    private mutating func splitIfFull(_ leaf: Int32) {
        guard leaves[Int(leaf)].spans.count > Self.leafCapacity else { return }
        // Ancestors change: their counts must be whole first; ids move: the index too.
        flushCounts()
        flushIndex()
        let half = leaves[Int(leaf)].spans.count / 2
        // Spans from `half` on move to the new leaf.
        if leaf == cachedLeaf, cachedSpan >= half { cachedSpan = -1 }
        var fresh = Leaf()
        fresh.spans = ContiguousArray(leaves[Int(leaf)].spans[half...])
        leaves[Int(leaf)].spans.removeSubrange(half...)
        for span in fresh.spans {
            fresh.visible += span.visibleLength
            fresh.total += Int(span.length)
        }
        let freshIndex = Int32(leaves.count)
        if height == 0 {
            // The tree grows its first inner level: index everything from now on.
            for span in leaves[Int(leaf)].spans { index.assign(from: span.id, count: span.length, to: leaf) }
        }
        for span in fresh.spans { index.assign(from: span.id, count: span.length, to: freshIndex) }
        leaves[Int(leaf)].visible -= fresh.visible
        leaves[Int(leaf)].total -= fresh.total
        fresh.next = leaves[Int(leaf)].next
        leaves[Int(leaf)].next = freshIndex
        fresh.parent = leaves[Int(leaf)].parent
        leaves.append(fresh)
        attach(child: freshIndex, after: leaf, childIsLeaf: true,
               visible: leaves[Int(freshIndex)].visible, total: leaves[Int(freshIndex)].total)
    }

    /// Places a new node right after its sibling in the parent, growing a new root if needed.
    private mutating func attach(child: Int32, after sibling: Int32, childIsLeaf: Bool, visible: Int, total: Int) {
        let parent = childIsLeaf ? leaves[Int(sibling)].parent : inners[Int(sibling)].parent
        if parent < 0 {
            var newRoot = Inner(childrenAreLeaves: childIsLeaf)
            newRoot.children = [sibling, child]
            let rootIndex = Int32(inners.count)
            if childIsLeaf {
                newRoot.visible = leaves[Int(sibling)].visible + visible
                newRoot.total = leaves[Int(sibling)].total + total
                leaves[Int(sibling)].parent = rootIndex
                leaves[Int(child)].parent = rootIndex
            } else {
                newRoot.visible = inners[Int(sibling)].visible + visible
                newRoot.total = inners[Int(sibling)].total + total
                inners[Int(sibling)].parent = rootIndex
                inners[Int(child)].parent = rootIndex
            }
            inners.append(newRoot)
            root = rootIndex
            height += 1
            return
        }
        let slot = (inners[Int(parent)].children.firstIndex(of: sibling) ?? inners[Int(parent)].children.count - 1) + 1
        inners[Int(parent)].children.insert(child, at: slot)
        if childIsLeaf { leaves[Int(child)].parent = parent } else { inners[Int(child)].parent = parent }
        guard inners[Int(parent)].children.count > Self.innerCapacity else { return }
        // Split the parent.
        let half = inners[Int(parent)].children.count / 2
        var fresh = Inner(childrenAreLeaves: inners[Int(parent)].childrenAreLeaves)
        fresh.children = ContiguousArray(inners[Int(parent)].children[half...])
        inners[Int(parent)].children.removeSubrange(half...)
        let freshIndex = Int32(inners.count)
        for moved in fresh.children {
            if fresh.childrenAreLeaves {
                leaves[Int(moved)].parent = freshIndex
                fresh.visible += leaves[Int(moved)].visible
                fresh.total += leaves[Int(moved)].total
            } else {
                inners[Int(moved)].parent = freshIndex
                fresh.visible += inners[Int(moved)].visible
                fresh.total += inners[Int(moved)].total
            }
        }
        inners[Int(parent)].visible -= fresh.visible
        inners[Int(parent)].total -= fresh.total
        fresh.parent = inners[Int(parent)].parent
        inners.append(fresh)
        attach(child: freshIndex, after: parent, childIsLeaf: false, visible: fresh.visible, total: fresh.total)
    }
}

#if CHAT_INTERNAL_CHECKS
extension SpanTree {
    /// Verifies counts, parent links, the leaf chain, the id index and the visible-index caches.
    /// Debug builds only.
    func _checkInvariants() {
        precondition(cachedSpan < 0 || cachedLeaf >= 0, "a cached span without its leaf")
        precondition(unindexed.count == 0 || (0 ..< unindexed.count).allSatisfy { index.leaf(of: unindexed.id.advanced(by: $0)) == nil },
                     "unindexed ids in the index")
        if cachedLeaf >= 0 {
            precondition(cachedLeafStart == countBefore(leaf: cachedLeaf, visible: true), "cached leaf start")
            if cachedSpan >= 0 {
                let spans = leaves[Int(cachedLeaf)].spans
                precondition(cachedSpan < spans.count, "cached span")
                precondition(cachedSpanStart == spans[..<cachedSpan].reduce(0) { $0 + $1.visibleLength }, "cached span start")
            }
        }
        var leafOrder: [Int32] = []
        func walk(_ node: Int32, level: Int, parent: Int32) -> (visible: Int, total: Int) {
            if level == 0 {
                let leaf = leaves[Int(node)]
                precondition(leaf.parent == parent, "leaf parent link")
                precondition(leaf.spans.count <= Self.leafCapacity, "leaf over capacity")
                precondition(!leaf.spans.isEmpty || (height == 0), "empty non-root leaf")
                var visible = 0, total = 0
                for (i, span) in leaf.spans.enumerated() {
                    precondition(span.length > 0, "empty span")
                    visible += span.visibleLength
                    total += Int(span.length)
                    if i > 0 { precondition(!leaf.spans[i - 1].canAppend(span), "uncoalesced spans") }
                    if height > 0 {
                        for k in 0 ..< span.length {
                            precondition(indexedLeaf(of: span.id.advanced(by: k)) == node, "id index out of date")
                        }
                    }
                }
                precondition(visible == leaf.visible && total == leaf.total, "leaf counts")
                leafOrder.append(node)
                return (visible, total)
            }
            let inner = inners[Int(node)]
            precondition(inner.parent == parent, "inner parent link")
            precondition(inner.childrenAreLeaves == (level == 1), "inner level flag")
            precondition(!inner.children.isEmpty && inner.children.count <= Self.innerCapacity, "inner size")
            var visible = 0, total = 0
            for child in inner.children {
                let counts = walk(child, level: level - 1, parent: node)
                visible += counts.visible
                total += counts.total
            }
            let pending = pendingNode(atLevel: level, path: pendingPath()) == node
            precondition(visible == inner.visible + (pending ? pendingVisible : 0)
                         && total == inner.total + (pending ? pendingTotal : 0), "inner counts")
            return (visible, total)
        }
        _ = walk(root, level: height, parent: -1)
        var chained: [Int32] = []
        var leaf: Int32 = firstLeaf
        while leaf >= 0 { chained.append(leaf); leaf = leaves[Int(leaf)].next }
        precondition(chained == leafOrder, "leaf chain out of document order")
    }
}
#endif
