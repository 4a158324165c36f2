extension GovernanceResolution {
    /// Copies of a resolution pass taken along the causal order, at most ``kept`` of them spread
    /// over it: an operation that arrives out of order (its author was offline, a
    /// batch was held for its dependencies) usually sorts near the end, so resolution resumes
    /// from the copy before it instead of stepping every operation again.
    ///
    /// Valid only while no change is committed (a pass with nothing committed is the first pass
    /// of a resolution from scratch, so resuming one gives exactly that resolution's result).
    /// - Complexity: a copy is O(1) when taken; the pass's next mutation of each container copies
    ///   it once, O(g) per checkpoint, so O(kept) amortized per operation stepped; resuming steps
    ///   O(g / kept) operations more than needed.
    struct PassCheckpoints: Sendable {
        /// The passes after the first `stepped` operations, in increasing `stepped` order.
        private var saved: [(stepped: Int, pass: Pass)] = []
        /// The least distance between two copies; doubles whenever every other copy is dropped.
        private var stride = 8

        /// At most this many copies are kept.
        static let kept = 16

        /// Saves `pass` (the pass after the first `stepped` operations) when it is at least a
        /// stride past the last copy. When more than ``kept`` are saved, every other one is
        /// dropped and the stride doubles, so the copies stay spread over the whole order.
        mutating func save(_ pass: Pass, stepped: Int) {
            guard stepped - (saved.last?.stepped ?? 0) >= stride else { return }
            saved.append((stepped, pass))
            guard saved.count > Self.kept else { return }
            saved = saved.indices.filter { $0 % 2 == 1 }.map { saved[$0] }
            stride *= 2
        }

        /// The latest copy taken after at most `index` operations, dropping those after `index`
        /// (an operation inserted at `index` invalidates them).
        mutating func resume(atMost index: Int) -> (pass: Pass, stepped: Int)? {
            while let last = saved.last, last.stepped > index { saved.removeLast() }
            return saved.last.map { ($0.pass, $0.stepped) }
        }
    }
}

extension Array {
    /// The index of the first element satisfying `isAfter`, for an array in which every element
    /// satisfying it comes after every element that does not (a sorted array and a threshold).
    /// - Complexity: O(log n).
    func partitioningIndex(where isAfter: (Element) -> Bool) -> Int {
        var low = startIndex
        var high = endIndex
        while low < high {
            let middle = low + (high - low) / 2
            if isAfter(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

extension Array {
    /// Merges `sorted` (sorted by `areInIncreasingOrder`) into this sorted array, whose elements
    /// before `start` all precede `sorted.first`.
    /// - Complexity: O(count − start + sorted.count).
    mutating func merge(_ sorted: [Element], from start: Int, by areInIncreasingOrder: (Element, Element) -> Bool) {
        guard start < count else { return append(contentsOf: sorted) }
        let tail = self[start...]
        var merged: [Element] = []
        merged.reserveCapacity(tail.count + sorted.count)
        var (left, right) = (tail.startIndex, sorted.startIndex)
        while left < tail.endIndex, right < sorted.endIndex {
            if areInIncreasingOrder(sorted[right], tail[left]) {
                merged.append(sorted[right])
                right += 1
            } else {
                merged.append(tail[left])
                left += 1
            }
        }
        merged += tail[left...]
        merged += sorted[right...]
        replaceSubrange(start..., with: merged)
    }
}
