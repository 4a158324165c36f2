/// Maps element ids to the B-tree leaf that holds them, so a remote operation finds its origins
/// without scanning.
///
/// Paged: one page of 16 leaf numbers per (replica, counter / 16) that holds any element. The
/// pages live in one flat array (`slots`), so a load that indexes thousands of pages allocates
/// a few times, not once per page. A page is found through its replica's dense table (page
/// number → where it starts) while the replica's ids are about as dense as a typing history's,
/// which makes the lookup two array reads, no hashing; pages far beyond what is indexed (sparse
/// counters, such as a message list's, or hostile ones) are found through a dictionary, so the
/// dense tables stay O(pages held).
/// - Complexity: lookup O(1) (expected O(1) for sparse pages); assigning a range of `n` ids O(n).
struct IDIndex: Sendable {
    private static let pageShift: UInt32 = 4
    private static let pageSize = 1 << 4
    /// A dense table may grow to this many entries beyond twice the pages held.
    private static let denseSlack = 4096
    /// Per replica number: where page `p` starts in `slots`, or -1; pages past the end are sparse.
    private var dense: [ContiguousArray<Int32>] = []
    /// Pages that fall past their replica's dense table, by (replica, page).
    private var sparse: [UInt64: Int32] = [:]
    /// Every page's 16 leaf numbers, one page after another; -1 where no element is.
    private var slots: ContiguousArray<Int32> = []

    private var pageCount: Int { slots.count >> Self.pageShift }

    /// Where the page of `counter` ends, or `end` when that comes first. The last page of the
    /// counter space ends at `end` (its end, 2³², is not a `UInt32`).
    @inline(__always)
    private static func pageEnd(of counter: UInt32, before end: UInt32) -> UInt32 {
        let last = counter | UInt32(pageSize - 1)
        return last == .max ? end : min(end, last + 1)
    }

    /// Where the page holding `id` starts in `slots`, or nil when no element of it is indexed.
    @inline(__always)
    private func pageStart(of id: LocalID) -> Int? {
        let page = Int(id.counter >> Self.pageShift)
        let replica = Int(id.replica)
        if replica < dense.count, page < dense[replica].count {
            let start = dense[replica][page]
            return start < 0 ? nil : Int(start)
        }
        return sparse[UInt64(id.replica) << 32 | UInt64(page)].map(Int.init)
    }

    /// The leaf holding `id`, or nil when the id is not an element of this sequence.
    func leaf(of id: LocalID) -> Int32? {
        guard let start = pageStart(of: id) else { return nil }
        let leaf = slots[start + Int(id.counter & UInt32(Self.pageSize - 1))]
        return leaf < 0 ? nil : leaf
    }

    /// True when every id in `id ..< id + count` is an element.
    /// - Complexity: O(count), one page lookup per 16 ids.
    func containsAll(from id: LocalID, count: UInt32) -> Bool {
        var counter = id.counter
        let end = id.counter &+ count
        while counter != end {
            let pageEnd = Self.pageEnd(of: counter, before: end)
            guard let start = pageStart(of: LocalID(replica: id.replica, counter: counter)) else { return false }
            for c in counter ..< pageEnd where slots[start + Int(c & UInt32(Self.pageSize - 1))] < 0 { return false }
            counter = pageEnd
        }
        return true
    }

    /// Makes room for `pages` pages, so that a bulk load does not grow the tables step by step.
    mutating func reserveCapacity(pages count: Int) {
        slots.reserveCapacity(count * Self.pageSize)
    }

    /// Where the page holding `id` starts in `slots`, made (empty) when missing.
    private mutating func makePage(of id: LocalID) -> Int {
        if let start = pageStart(of: id) { return start }
        let start = slots.count
        slots.append(contentsOf: repeatElement(-1, count: Self.pageSize))
        let page = Int(id.counter >> Self.pageShift)
        let replica = Int(id.replica)
        // Dense while the table stays within reach of the pages held: a hostile or sparse
        // counter far ahead goes to the dictionary instead of growing the table.
        if page <= 2 * pageCount + Self.denseSlack {
            if replica >= dense.count { dense.append(contentsOf: repeatElement([], count: replica - dense.count + 1)) }
            if page >= dense[replica].count {
                dense[replica].append(contentsOf: repeatElement(-1, count: page - dense[replica].count + 1))
            }
            dense[replica][page] = Int32(start)
        } else {
            sparse[UInt64(id.replica) << 32 | UInt64(page)] = Int32(start)
        }
        return start
    }

    /// Records that elements `id ..< id + count` live in `leaf`.
    mutating func assign(from id: LocalID, count: UInt32, to leaf: Int32) {
        var counter = id.counter
        let end = id.counter &+ count
        while counter != end {
            let pageEnd = Self.pageEnd(of: counter, before: end)
            let start = makePage(of: LocalID(replica: id.replica, counter: counter))
            slots.withUnsafeMutableBufferPointer { slots in
                for c in counter ..< pageEnd { slots[start + Int(c & UInt32(Self.pageSize - 1))] = leaf }
            }
            counter = pageEnd
        }
    }
}
