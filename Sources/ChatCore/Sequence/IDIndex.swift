/// Maps element ids to the B-tree leaf that holds them, so a remote operation finds its origins
/// without scanning.
///
/// Paged by (replica, counter / 16). A page whose ids are all in one leaf (typing fills a page
/// in one leaf; a message list's pages hold one id each) is stored in its entry itself: the
/// leaf and a mask of the ids held. A page whose ids are spread over several leaves gets 16 leaf
/// numbers in one flat array (`slots`), so a load that indexes thousands of pages allocates a
/// few times, not once per page. An entry is found through its replica's dense table (page
/// number → entry) while the tables together stay within four entries per page held, which
/// makes the lookup two array reads, no hashing; pages beyond (sparse counters far up, or
/// hostile ones) are found through a dictionary, so the dense tables stay O(pages held).
/// - Complexity: lookup O(1) (expected O(1) for pages in the dictionary); assigning a range of
///   `n` ids O(n / 16) while its pages stay in one leaf each, else O(n).
struct IDIndex: Sendable {
    private static let pageShift: UInt32 = 4
    private static let pageSize = 1 << 4
    /// The dense tables together may hold this many entries beyond four per page held (so
    /// many replicas with a few ids each, far up their counters, cannot make them large).
    private static let denseSlack = 4096
    /// An entry: no page (`empty`); where the page's 16 leaf numbers start in `slots` (≥ 0); or
    /// a page in one leaf, as `-2 - packed`. `packed` is either `1 << 30 | leaf << 16 | mask` (a
    /// mask of the ids held, for leaves below 2¹⁴ − 1, so that `-2 - packed` stays above
    /// `Int32.min`) or `leaf << 4 | offset` (one id, for leaves below 2²⁶: the leaves of a very
    /// large message list).
    private static let empty: Int32 = -1
    private static let maskedFlag: Int32 = 1 << 30
    private static let maskedLeafBits: Int32 = (1 << 14) - 1
    private static let maskedLeafLimit: Int32 = (1 << 14) - 1
    private static let singleLeafLimit: Int32 = 1 << 26

    /// Per replica number: page → entry; pages past a table's end are in `sparse` or empty.
    private var dense: [ContiguousArray<Int32>] = []
    /// The entries of pages that fall past their replica's dense table, by (replica, page).
    private var sparse: [UInt64: Int32] = [:]
    /// The 16 leaf numbers of each page spread over several leaves, one page after another; -1
    /// where no element is.
    private var slots: ContiguousArray<Int32> = []
    /// Pages with an entry (in place or full).
    private var pagesHeld = 0
    /// Entries in all the dense tables.
    private(set) var denseEntries = 0
    /// Pages spread over several leaves (each takes 16 slots).
    var fullPages: Int { slots.count >> Self.pageShift }
    /// Per replica number: how many of its pages are in `sparse` (a table that grows over them
    /// moves them in; most replicas have none, and then nothing is looked up).
    private var sparsePages: [Int] = []

    /// Where the page of `counter` ends, or `end` when that comes first. The last page of the
    /// counter space ends at `end` (its end, 2³², is not a `UInt32`).
    @inline(__always)
    private static func pageEnd(of counter: UInt32, before end: UInt32) -> UInt32 {
        let last = counter | UInt32(pageSize - 1)
        return last == .max ? end : min(end, last + 1)
    }

    @inline(__always)
    private static func offset(of counter: UInt32) -> Int32 { Int32(counter & UInt32(pageSize - 1)) }

    /// The mask of the ids `counter ..< end` of one page.
    @inline(__always)
    private static func mask(from counter: UInt32, to end: UInt32) -> UInt16 {
        let first = counter & UInt32(pageSize - 1)
        let count = end &- counter
        return UInt16(truncatingIfNeeded: ((1 as UInt32) << count &- 1) << first)
    }

    /// The entry of a page whose held ids (`mask`, not empty) are all in `leaf`, or nil when it
    /// needs a full page.
    @inline(__always)
    private static func inPlace(leaf: Int32, mask: UInt16) -> Int32? {
        if leaf < maskedLeafLimit { return -2 - (maskedFlag | leaf << 16 | Int32(mask)) }
        guard leaf < singleLeafLimit, mask.nonzeroBitCount == 1 else { return nil }
        return -2 - (leaf << pageShift | Int32(mask.trailingZeroBitCount))
    }

    /// The leaf and held ids of an entry made by ``inPlace(leaf:mask:)``.
    @inline(__always)
    private static func decodeInPlace(_ entry: Int32) -> (leaf: Int32, mask: UInt16) {
        let packed = -2 - entry
        if packed & maskedFlag != 0 { return ((packed >> 16) & maskedLeafBits, UInt16(truncatingIfNeeded: packed)) }
        return (packed >> pageShift, 1 << UInt16(packed & Int32(pageSize - 1)))
    }

    @inline(__always)
    private static func sparseKey(replica: Int, page: Int) -> UInt64 { UInt64(replica) << 32 | UInt64(page) }

    /// The entry of the page holding `id` (`empty` when none).
    @inline(__always)
    private func entry(of id: LocalID) -> Int32 {
        let page = Int(id.counter >> Self.pageShift)
        let replica = Int(id.replica)
        if replica < dense.count, page < dense[replica].count { return dense[replica][page] }
        return sparse[Self.sparseKey(replica: replica, page: page)] ?? Self.empty
    }

    /// The leaf holding `id`, or nil when the id is not an element of this sequence.
    func leaf(of id: LocalID) -> Int32? {
        let entry = entry(of: id)
        if entry >= 0 {
            let leaf = slots[Int(entry) + Int(Self.offset(of: id.counter))]
            return leaf < 0 ? nil : leaf
        }
        guard entry != Self.empty else { return nil }
        let (leaf, mask) = Self.decodeInPlace(entry)
        return mask & (1 << UInt16(Self.offset(of: id.counter))) != 0 ? leaf : nil
    }

    /// True when every id in `id ..< id + count` is an element.
    /// - Complexity: O(count), one page lookup per 16 ids.
    func containsAll(from id: LocalID, count: UInt32) -> Bool {
        var counter = id.counter
        let end = id.counter &+ count
        while counter != end {
            let pageEnd = Self.pageEnd(of: counter, before: end)
            let entry = entry(of: LocalID(replica: id.replica, counter: counter))
            if entry >= 0 {
                for c in counter ..< pageEnd where slots[Int(entry) + Int(Self.offset(of: c))] < 0 { return false }
            } else {
                let wanted = Self.mask(from: counter, to: pageEnd)
                guard entry != Self.empty, Self.decodeInPlace(entry).mask & wanted == wanted else { return false }
            }
            counter = pageEnd
        }
        return true
    }

    /// Extends `replica`'s dense table to the page of `counter` when that is within reach of
    /// `pages` pages: a bulk load, which meets pages out of counter order, then keeps them all
    /// dense.
    mutating func reserveDense(replica: UInt32, through counter: UInt32, pages: Int) {
        let page = Int(counter >> Self.pageShift)
        let replica = Int(replica)
        guard canGrowDense(replica: replica, through: page, pages: max(pagesHeld, pages)) else { return }
        growDense(replica: replica, through: page)
    }

    /// True when `replica`'s dense table does not reach `page` yet and may grow to it within
    /// the budget of `pages` pages held.
    private func canGrowDense(replica: Int, through page: Int, pages: Int) -> Bool {
        let length = replica < dense.count ? dense[replica].count : 0
        return page >= length && denseEntries + (page - length + 1) <= 4 * pages + Self.denseSlack
    }

    /// Grows `replica`'s dense table through `page`, moving in the entries of pages it grows over
    /// that were in `sparse`.
    private mutating func growDense(replica: Int, through page: Int) {
        if replica >= dense.count { dense.append(contentsOf: repeatElement([], count: replica - dense.count + 1)) }
        let grownFrom = dense[replica].count
        dense[replica].append(contentsOf: repeatElement(Self.empty, count: page - grownFrom + 1))
        denseEntries += page - grownFrom + 1
        guard replica < sparsePages.count, sparsePages[replica] > 0 else { return }
        for moved in grownFrom ... page {
            if let entry = sparse.removeValue(forKey: Self.sparseKey(replica: replica, page: moved)) {
                dense[replica][moved] = entry
                sparsePages[replica] -= 1
            }
        }
    }

    /// Sets the entry of `id`'s page, placing a new one in its replica's dense table while the
    /// tables stay within their budget (a hostile or sparse counter far ahead goes to the
    /// dictionary instead of growing a table).
    private mutating func setEntry(_ value: Int32, of id: LocalID, isNew: Bool) {
        let page = Int(id.counter >> Self.pageShift)
        let replica = Int(id.replica)
        if replica < dense.count, page < dense[replica].count {
            dense[replica][page] = value
            return
        }
        let key = Self.sparseKey(replica: replica, page: page)
        if isNew { pagesHeld += 1 }
        guard isNew, canGrowDense(replica: replica, through: page, pages: pagesHeld) else {
            if isNew {
                if replica >= sparsePages.count { sparsePages.append(contentsOf: repeatElement(0, count: replica - sparsePages.count + 1)) }
                sparsePages[replica] += 1
            }
            sparse[key] = value
            return
        }
        growDense(replica: replica, through: page)
        dense[replica][page] = value
    }

    /// Adds the ids `mask` to a page of the dense tables already kept in place in `leaf`; false
    /// (nothing done) for any other page. Typing on takes this path for 15 ids of every 16.
    @inline(__always)
    private mutating func addToPage(replica: Int, page: Int, mask: UInt16, leaf: Int32) -> Bool {
        guard replica < dense.count, page < dense[replica].count else { return false }
        let packed = -2 - dense[replica][page]
        guard packed >= 0, packed & Self.maskedFlag != 0, (packed >> 16) & Self.maskedLeafBits == leaf else { return false }
        dense[replica][page] = -2 - (packed | Int32(mask))
        return true
    }

    /// Records that elements `id ..< id + count` live in `leaf`.
    mutating func assign(from id: LocalID, count: UInt32, to leaf: Int32) {
        var counter = id.counter
        let end = id.counter &+ count
        while counter != end {
            let pageEnd = Self.pageEnd(of: counter, before: end)
            let mask = Self.mask(from: counter, to: pageEnd)
            if addToPage(replica: Int(id.replica), page: Int(counter >> Self.pageShift), mask: mask, leaf: leaf) {
                counter = pageEnd
                continue
            }
            let at = LocalID(replica: id.replica, counter: counter)
            var entry = entry(of: at)
            if entry == Self.empty, let inPlace = Self.inPlace(leaf: leaf, mask: mask) {
                setEntry(inPlace, of: at, isNew: true)
                counter = pageEnd
                continue
            }
            if entry < Self.empty {
                // Still one leaf when the ids held elsewhere are all reassigned here.
                let (held, heldMask) = Self.decodeInPlace(entry)
                if held == leaf || heldMask & ~mask == 0, let inPlace = Self.inPlace(leaf: leaf, mask: heldMask | mask) {
                    setEntry(inPlace, of: at, isNew: false)
                    counter = pageEnd
                    continue
                }
            }
            if entry < 0 {
                // A full page, holding the ids there were (if any).
                let start = Int32(slots.count)
                slots.append(contentsOf: repeatElement(-1, count: Self.pageSize))
                if entry != Self.empty {
                    let (held, heldMask) = Self.decodeInPlace(entry)
                    for offset in 0 ..< Self.pageSize where heldMask & (1 << UInt16(offset)) != 0 {
                        slots[Int(start) + offset] = held
                    }
                }
                setEntry(start, of: at, isNew: entry == Self.empty)
                entry = start
            }
            let start = Int(entry)
            slots.withUnsafeMutableBufferPointer { slots in
                for c in counter ..< pageEnd { slots[start + Int(Self.offset(of: c))] = leaf }
            }
            counter = pageEnd
        }
    }
}
