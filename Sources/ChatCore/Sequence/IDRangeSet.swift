/// A set of counters kept as sorted, disjoint, non-adjacent ranges: which operations of one
/// replica a sequence has applied.
///
/// The first range is stored inline, so the common case (one contiguous run per replica)
/// allocates nothing.
/// - Complexity: appending past the end O(1); other inserts O(ranges).
struct IDRangeSet: Hashable, Sendable {
    /// The first range (empty when the set is empty).
    private var head: Range<UInt32> = 0 ..< 0
    /// Further ranges, after `head`.
    private var tail: ContiguousArray<Range<UInt32>> = []

    /// Every range, in order.
    var ranges: [Range<UInt32>] { head.isEmpty ? [] : [head] + tail }

    /// One past the highest counter in the set (0 when empty).
    var upperBound: UInt32 { tail.last?.upperBound ?? head.upperBound }

    var isEmpty: Bool { head.isEmpty }

    /// Adds `range`, coalescing with neighbours.
    /// - Complexity: O(1), inlined, when `range` extends the only range (a replica's own edits,
    ///   or a peer's in order); see ``insertAfterHead(_:)`` otherwise.
    @inline(__always)
    mutating func insert(_ range: Range<UInt32>) {
        if tail.isEmpty, !head.isEmpty, range.lowerBound >= head.lowerBound, range.lowerBound <= head.upperBound {
            head = head.lowerBound ..< max(head.upperBound, range.upperBound)
            return
        }
        insertAfterHead(range)
    }

    /// ``insert(_:)`` past its inlined case (which already extended a lone head).
    private mutating func insertAfterHead(_ range: Range<UInt32>) {
        guard !range.isEmpty else { return }
        if head.isEmpty {
            head = range
            return
        }
        if let last = tail.last, range.lowerBound >= last.lowerBound, range.lowerBound <= last.upperBound {
            tail[tail.count - 1] = last.lowerBound ..< max(last.upperBound, range.upperBound)
            return
        }
        if range.lowerBound > upperBound {
            tail.append(range)
            return
        }
        var merged = range
        var kept: [Range<UInt32>] = []
        var placed = false
        for existing in ranges {
            if existing.upperBound < merged.lowerBound {
                kept.append(existing)
            } else if existing.lowerBound > merged.upperBound {
                if !placed { kept.append(merged); placed = true }
                kept.append(existing)
            } else {
                merged = min(existing.lowerBound, merged.lowerBound) ..< max(existing.upperBound, merged.upperBound)
            }
        }
        if !placed { kept.append(merged) }
        head = kept[0]
        tail = ContiguousArray(kept.dropFirst())
    }

    /// The index in `tail` of the first range ending after `counter` (binary search).
    private func firstTailIndex(endingAfter counter: UInt32) -> Int {
        var low = 0
        var high = tail.count
        while low < high {
            let mid = (low + high) / 2
            if tail[mid].upperBound <= counter { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// True when every counter of `range` is in the set.
    /// - Complexity: O(log ranges).
    func contains(_ range: Range<UInt32>) -> Bool {
        if range.isEmpty { return true }
        if head.lowerBound <= range.lowerBound, range.upperBound <= head.upperBound { return true }
        let index = firstTailIndex(endingAfter: range.lowerBound)
        return index < tail.count && tail[index].lowerBound <= range.lowerBound && range.upperBound <= tail[index].upperBound
    }

    /// True when no counter of `range` is in the set.
    /// - Complexity: O(log ranges).
    func isDisjoint(with range: Range<UInt32>) -> Bool {
        if range.isEmpty || range.lowerBound >= upperBound { return true }
        if head.overlaps(range) { return false }
        let index = firstTailIndex(endingAfter: range.lowerBound)
        return index == tail.count || !tail[index].overlaps(range)
    }

    /// The parts of `range` not in the set, in order.
    func missing(in range: Range<UInt32>) -> [Range<UInt32>] {
        if isDisjoint(with: range) { return [range] }
        if contains(range) { return [] }
        var result: [Range<UInt32>] = []
        var cursor = range.lowerBound
        for existing in ranges where existing.upperBound > cursor {
            if existing.lowerBound >= range.upperBound { break }
            if existing.lowerBound > cursor { result.append(cursor ..< existing.lowerBound) }
            cursor = max(cursor, existing.upperBound)
            if cursor >= range.upperBound { break }
        }
        if cursor < range.upperBound { result.append(cursor ..< range.upperBound) }
        return result
    }

    /// True when `counter` is in the set.
    func contains(_ counter: UInt32) -> Bool { counter < UInt32.max && contains(counter ..< counter + 1) }
}
