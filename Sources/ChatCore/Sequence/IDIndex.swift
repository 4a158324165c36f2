/// Maps element ids to the B-tree leaf that holds them, so a remote operation finds its origins
/// without scanning.
///
/// Paged: one page of 16 leaf numbers per (replica, counter / 16) that holds any element, so it
/// stays small for sparse counters (a message list, where ids are far apart) and compact for a
/// long document. The pages live in one flat array, found by a table of their offsets, so a
/// load that indexes thousands of pages allocates twice, not once per page.
/// - Complexity: lookup O(1) expected; assigning a range of `n` ids O(n).
struct IDIndex: Sendable {
    private static let pageShift: UInt32 = 4
    private static let pageSize = 1 << 4
    /// Where each page starts in `slots`.
    private var pages: [UInt64: Int32] = [:]
    /// Every page's 16 leaf numbers, one page after another; -1 where no element is.
    private var slots: ContiguousArray<Int32> = []

    @inline(__always)
    private static func key(_ id: LocalID) -> UInt64 {
        UInt64(id.replica) << 32 | UInt64(id.counter >> pageShift)
    }

    /// The leaf holding `id`, or nil when the id is not an element of this sequence.
    func leaf(of id: LocalID) -> Int32? {
        guard let start = pages[Self.key(id)] else { return nil }
        let leaf = slots[Int(start) + Int(id.counter & UInt32(Self.pageSize - 1))]
        return leaf < 0 ? nil : leaf
    }

    /// True when every id in `id ..< id + count` is an element.
    func containsAll(from id: LocalID, count: UInt32) -> Bool {
        var counter = id.counter
        let end = id.counter &+ count
        while counter != end {
            guard leaf(of: LocalID(replica: id.replica, counter: counter)) != nil else { return false }
            counter &+= 1
        }
        return true
    }

    /// Makes room for `pages` pages, so that a bulk load does not grow the tables step by step.
    mutating func reserveCapacity(pages count: Int) {
        pages.reserveCapacity(count)
        slots.reserveCapacity(count * Self.pageSize)
    }

    /// Records that elements `id ..< id + count` live in `leaf`.
    mutating func assign(from id: LocalID, count: UInt32, to leaf: Int32) {
        var counter = id.counter
        let end = id.counter &+ count
        while counter != end {
            let key = Self.key(LocalID(replica: id.replica, counter: counter))
            let pageEnd = min(end, (counter | UInt32(Self.pageSize - 1)) &+ 1)
            let start: Int
            if let known = pages[key] {
                start = Int(known)
            } else {
                start = slots.count
                slots.append(contentsOf: repeatElement(-1, count: Self.pageSize))
                pages[key] = Int32(start)
            }
            slots.withUnsafeMutableBufferPointer { slots in
                for c in counter ..< pageEnd { slots[start + Int(c & UInt32(Self.pageSize - 1))] = leaf }
            }
            counter = pageEnd
        }
    }
}
