/// A shortest edit script between two texts (Myers, "An O(ND) Difference Algorithm and Its
/// Variations", 1986), as the changes that turn the old text into the new: each replaces a range
/// of the old text (possibly empty) with a range of the new (possibly empty). Message edits use
/// it so that an edit touches only what changed.
public enum TextDiff {
    /// One change: the old text's elements `deleted` give way to the new text's `inserted`, at
    /// the same place (`deleted.lowerBound` in the old text).
    public struct Change: Equatable, Sendable {
        public var deleted: Range<Int>
        public var inserted: Range<Int>
    }

    /// The most inserted plus deleted elements searched for; texts further apart get one change
    /// over the middle that differs (after the common prefix and suffix). Bounds the work to
    /// O((old + new) · 1,000) and the memory to O(1,000²).
    public static let maxDistance = 1_000

    /// The changes from `old` to `new`, in text order, none adjacent to another.
    /// - Complexity: O((old + new) · d) for an edit distance d ≤ ``maxDistance``.
    public static func changes<C: RandomAccessCollection>(from old: C, to new: C) -> [Change]
        where C.Element: Equatable, C.Index == Int {
        let oldStart = old.startIndex, newStart = new.startIndex
        var prefix = 0
        while prefix < old.count, prefix < new.count, old[oldStart + prefix] == new[newStart + prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix, suffix < new.count - prefix,
              old[old.endIndex - 1 - suffix] == new[new.endIndex - 1 - suffix] { suffix += 1 }
        let a = old[(oldStart + prefix) ..< (old.endIndex - suffix)]
        let b = new[(newStart + prefix) ..< (new.endIndex - suffix)]
        if a.isEmpty, b.isEmpty { return [] }
        let middle = Change(deleted: prefix ..< prefix + a.count, inserted: prefix ..< prefix + b.count)
        if a.isEmpty || b.isEmpty { return [middle] }
        guard let script = shortestScript(a, b) else { return [middle] }
        return script.map { Change(deleted: $0.deleted.lowerBound + prefix ..< $0.deleted.upperBound + prefix,
                                   inserted: $0.inserted.lowerBound + prefix ..< $0.inserted.upperBound + prefix) }
    }

    /// Myers' forward search over `a` and `b` (indexed from their own start), keeping each
    /// round's furthest points to walk the script back; nil past ``maxDistance``.
    private static func shortestScript<S: RandomAccessCollection>(_ a: S, _ b: S) -> [Change]?
        where S.Element: Equatable, S.Index == Int {
        let n = a.count, m = b.count
        let (a0, b0) = (a.startIndex, b.startIndex)
        let limit = min(maxDistance, n + m)
        let offset = limit + 1
        var furthest = [Int](repeating: 0, count: 2 * limit + 3)
        var rounds: [[Int]] = []
        var distance: Int?
        search: for d in 0 ... limit {
            rounds.append(furthest)
            for k in stride(from: -d, through: d, by: 2) {
                var x = k == -d || (k != d && furthest[offset + k - 1] < furthest[offset + k + 1])
                    ? furthest[offset + k + 1] : furthest[offset + k - 1] + 1
                var y = x - k
                while x < n, y < m, a[a0 + x] == b[b0 + y] { x += 1; y += 1 }
                furthest[offset + k] = x
                if x >= n, y >= m { distance = d; break search }
            }
        }
        guard let distance else { return nil }
        // Walk back from the end: each round's step was one insertion or one deletion.
        var steps: [(deletion: Bool, x: Int, y: Int)] = [] // the step's start point
        var x = n, y = m
        for d in stride(from: distance, to: 0, by: -1) {
            let before = rounds[d]
            let k = x - y
            let fromK = k == -d || (k != d && before[offset + k - 1] < before[offset + k + 1]) ? k + 1 : k - 1
            let fromX = before[offset + fromK], fromY = fromX - fromK
            let isDeletion = fromK == k - 1
            // The step ends at (fromX + 1, fromY) for a deletion, (fromX, fromY + 1) for an insertion;
            // equal elements (a diagonal) follow it up to (x, y).
            steps.append((isDeletion, fromX, fromY))
            x = fromX
            y = fromY
        }
        // Forwards, merging steps into changes: adjacent deletions and insertions join.
        var changes: [Change] = []
        for step in steps.reversed() {
            let deleted = step.deletion ? step.x ..< step.x + 1 : step.x ..< step.x
            let inserted = step.deletion ? step.y ..< step.y : step.y ..< step.y + 1
            if var last = changes.last, last.deleted.upperBound == deleted.lowerBound, last.inserted.upperBound == inserted.lowerBound {
                last.deleted = last.deleted.lowerBound ..< deleted.upperBound
                last.inserted = last.inserted.lowerBound ..< inserted.upperBound
                changes[changes.count - 1] = last
            } else {
                changes.append(Change(deleted: deleted, inserted: inserted))
            }
        }
        return changes
    }
}
