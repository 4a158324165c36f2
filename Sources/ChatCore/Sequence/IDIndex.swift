/// Maps element ids to the B-tree leaf that holds them, so a remote operation finds its origins
/// without scanning.
///
/// Paged: one page of 16 leaf numbers per (replica, counter / 16) that holds any element, so it
/// stays small for sparse counters (a message list, where ids are far apart) and compact for a
/// long document.
/// - Complexity: lookup O(1) expected; assigning a range of `n` ids O(n).
struct IDIndex: Sendable {
    private static let pageShift: UInt32 = 4
    private static let pageSize = 1 << 4
    private var pages: [UInt64: ContiguousArray<Int32>] = [:]

    @inline(__always)
    private static func key(_ id: LocalID) -> UInt64 {
        UInt64(id.replica) << 32 | UInt64(id.counter >> pageShift)
    }

    /// The leaf holding `id`, or nil when the id is not an element of this sequence.
    func leaf(of id: LocalID) -> Int32? {
        guard let page = pages[Self.key(id)] else { return nil }
        let leaf = page[Int(id.counter & UInt32(Self.pageSize - 1))]
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

    /// Makes room for `pages` pages, so that a bulk load does not grow the table step by step.
    mutating func reserveCapacity(pages count: Int) {
        pages.reserveCapacity(count)
    }

    /// Records that elements `id ..< id + count` live in `leaf`.
    mutating func assign(from id: LocalID, count: UInt32, to leaf: Int32) {
        var counter = id.counter
        let end = id.counter &+ count
        while counter != end {
            let key = Self.key(LocalID(replica: id.replica, counter: counter))
            let pageEnd = min(end, (counter | UInt32(Self.pageSize - 1)) &+ 1)
            pages[key, default: ContiguousArray(repeating: -1, count: Self.pageSize)]
                .withUnsafeMutableBufferPointer { page in
                    for c in counter ..< pageEnd {
                        page[Int(c & UInt32(Self.pageSize - 1))] = leaf
                    }
                }
            counter = pageEnd
        }
    }
}
