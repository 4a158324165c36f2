/// A set of counters kept as sorted, disjoint, non-adjacent ranges: which operations of one
/// replica a sequence has applied.
///
/// - Complexity: appending past the end O(1); other inserts O(ranges).
struct IDRangeSet: Hashable, Sendable {
    private(set) var ranges: ContiguousArray<Range<UInt32>> = []

    /// One past the highest counter in the set (0 when empty).
    var upperBound: UInt32 { ranges.last?.upperBound ?? 0 }

    var isEmpty: Bool { ranges.isEmpty }

    /// Adds `range`, coalescing with neighbours.
    mutating func insert(_ range: Range<UInt32>) {
        guard !range.isEmpty else { return }
        if let last = ranges.last, range.lowerBound >= last.lowerBound {
            if range.lowerBound <= last.upperBound {
                ranges[ranges.count - 1] = last.lowerBound ..< max(last.upperBound, range.upperBound)
            } else {
                ranges.append(range)
            }
            return
        }
        if ranges.isEmpty {
            ranges.append(range)
            return
        }
        var merged = range
        var kept: ContiguousArray<Range<UInt32>> = []
        kept.reserveCapacity(ranges.count + 1)
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
        ranges = kept
    }

    /// The parts of `range` not in the set, in order.
    func missing(in range: Range<UInt32>) -> [Range<UInt32>] {
        if ranges.isEmpty || range.lowerBound >= upperBound { return [range] }
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
    func contains(_ counter: UInt32) -> Bool {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound <= counter { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count && ranges[low].contains(counter)
    }
}
