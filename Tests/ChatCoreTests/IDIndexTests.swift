@testable import ChatCore
import Testing

/// The id index: dense page tables for ids as dense as a typing history's, a dictionary for
/// counters far ahead (sparse or hostile), pages of one id kept in their entry, and the same
/// answers every way.
@Suite struct IDIndexTests {
    @Test func denseAndSparseIdsAreFoundAlike() {
        var index = IDIndex()
        // A typing history: replica 0 counts up; replica 2 (no replica 1) a little.
        index.assign(from: LocalID(replica: 0, counter: 0), count: 1000, to: 7)
        index.assign(from: LocalID(replica: 2, counter: 5), count: 3, to: 9)
        // Counters far ahead, as a message list's or a hostile state's: no table that large.
        index.assign(from: LocalID(replica: 0, counter: 4_000_000_000), count: 20, to: 11)
        index.assign(from: LocalID(replica: 3, counter: UInt32.max - 2), count: 2, to: 12)
        #expect(index.leaf(of: LocalID(replica: 0, counter: 0)) == 7)
        #expect(index.leaf(of: LocalID(replica: 0, counter: 999)) == 7)
        #expect(index.leaf(of: LocalID(replica: 0, counter: 1000)) == nil)
        #expect(index.leaf(of: LocalID(replica: 1, counter: 0)) == nil)
        #expect(index.leaf(of: LocalID(replica: 2, counter: 4)) == nil)
        #expect(index.leaf(of: LocalID(replica: 2, counter: 7)) == 9)
        #expect(index.leaf(of: LocalID(replica: 0, counter: 4_000_000_019)) == 11)
        #expect(index.leaf(of: LocalID(replica: 0, counter: 4_000_000_020)) == nil)
        #expect(index.leaf(of: LocalID(replica: 3, counter: UInt32.max - 1)) == 12)
        #expect(index.leaf(of: LocalID(replica: 9, counter: 0)) == nil)
        #expect(index.containsAll(from: LocalID(replica: 0, counter: 10), count: 990))
        #expect(!index.containsAll(from: LocalID(replica: 0, counter: 10), count: 991))
        #expect(index.containsAll(from: LocalID(replica: 0, counter: 4_000_000_000), count: 20))
        #expect(!index.containsAll(from: LocalID(replica: 2, counter: 4), count: 2))
        // Reassigning moves ids to another leaf.
        index.assign(from: LocalID(replica: 0, counter: 500), count: 10, to: 8)
        #expect(index.leaf(of: LocalID(replica: 0, counter: 505)) == 8 && index.leaf(of: LocalID(replica: 0, counter: 510)) == 7)
        #expect(index.leaf(of: LocalID(replica: 0, counter: 499)) == 7)
    }
}

extension IDIndexTests {
    /// A peer's ids in the last page of the counter space (2³² − 16 …) in a sequence large enough
    /// to use the index: applied and reloaded without trapping (the page end wrapped to 0 once).
    @Test func idsAtTheTopOfTheCounterSpaceDoNotTrap() throws {
        let local = ReplicaID(testValue: 1), peer = ReplicaID(testValue: 2)
        var sequence = SequenceCRDT<Unicode.Scalar>(replica: local)
        // Many runs (each typed at the start, so none coalesce): the tree grows past one leaf.
        for index in 0 ..< 600 { _ = try sequence.insert(contentsOf: [Unicode.Scalar(UInt8(97 + index % 26))], at: 0) }
        let top = OpID(replica: peer, counter: UInt32.max - 4)
        _ = try sequence.apply(.insert(SequenceInsert(id: top, originLeft: nil, originRight: nil, content: Array("xyz".unicodeScalars))))
        #expect(sequence.count == 603)
        let reloaded = try SequenceCRDT<Unicode.Scalar>(decoding: sequence.encodedState())
        #expect(Array(reloaded.elements) == Array(sequence.elements))
    }
}

extension IDIndexTests {
    /// A page first kept in the dictionary (far ahead of the pages held) is still found once the
    /// dense table has grown past it.
    @Test func aSparsePageIsFoundAfterTheDenseTableGrowsPastIt() {
        var index = IDIndex()
        let far: UInt32 = 20_000 * 16
        index.assign(from: LocalID(replica: 0, counter: far), count: 1, to: 5)
        // Enough pages that the dense table may reach past page 20,000.
        index.assign(from: LocalID(replica: 0, counter: 0), count: 16 * 9_000, to: 6)
        index.assign(from: LocalID(replica: 0, counter: far + 16), count: 1, to: 7)
        // Read first: an expectation on `index` itself would print all of it.
        let found = [far, far + 16, 100].map { index.leaf(of: LocalID(replica: 0, counter: $0)) }
        let contained = index.containsAll(from: LocalID(replica: 0, counter: far), count: 1)
        #expect(found == [5, 7, 6] && contained)
    }
}

extension IDIndexTests {
    /// Pages kept in their entry (one leaf: a mask of ids, or one id for leaves past 2¹⁴) and
    /// full pages answer alike as ids are added, moved to other leaves and made neighbours:
    /// checked against a plain dictionary over seeded random assignments, with leaf numbers
    /// below 500 (masks) and up to 2²⁰ (one id in place, or a full page).
    @Test(arguments: [(UInt64(1), Int32(500)), (2, 500), (3, 500), (4, 1 << 20), (5, 1 << 20)])
    func inPlaceEntriesAgreeWithAPlainMap(seed: UInt64, leaves: Int32) {
        var random = SeededGenerator(seed: seed)
        var index = IDIndex()
        var expected: [LocalID: Int32] = [:]
        for _ in 0 ..< 3_000 {
            let replica = UInt32.random(in: 0 ..< 3, using: &random)
            // Sparse counters (a message every ~40 ids), some far ahead, some runs.
            let counter = Bool.random(using: &random) ? UInt32.random(in: 0 ..< 40_000, using: &random) / 40 * 40
                : UInt32.random(in: 0 ..< 4_000_000, using: &random)
            let count = UInt32.random(in: 0 ..< 10, using: &random) == 0 ? UInt32.random(in: 2 ..< 40, using: &random) : 1
            let leaf = Int32.random(in: 0 ..< leaves, using: &random)
            index.assign(from: LocalID(replica: replica, counter: counter), count: count, to: leaf)
            for c in counter ..< counter + count { expected[LocalID(replica: replica, counter: c)] = leaf }
        }
        var mismatches = 0
        for (id, leaf) in expected where index.leaf(of: id) != leaf { mismatches += 1 }
        for (id, _) in expected {
            let next = LocalID(replica: id.replica, counter: id.counter + 1)
            if (expected[next] == nil) != (index.leaf(of: next) == nil) { mismatches += 1 }
            if index.containsAll(from: id, count: 2) != (expected[next] != nil) { mismatches += 1 }
        }
        #expect(mismatches == 0, "seed \(seed)")
    }
}

extension IDIndexTests {
    /// Many replicas with one id each, far up their counters (a hostile peer's), keep the dense
    /// tables within their budget: the ids go to the dictionary and are still found.
    @Test func manyReplicasFarUpTheirCountersStayWithinTheBudget() {
        var index = IDIndex()
        for replica in UInt32(0) ..< 2_000 { index.assign(from: LocalID(replica: replica, counter: 60_000), count: 1, to: 3) }
        let found = (UInt32(0) ..< 2_000).allSatisfy { index.leaf(of: LocalID(replica: $0, counter: 60_000)) == 3 }
        let entries = index.denseEntries
        #expect(found && entries <= 4 * 2_000 + 4_096, "\(entries) dense entries")
    }
}

extension IDIndexTests {
    /// Typing fills pages in one leaf: they stay in their entries, with no slots. A leaf split
    /// through a page spreads it over two leaves, and only that page takes 16 slots.
    @Test func pagesInOneLeafTakeNoSlots() {
        var index = IDIndex()
        for counter in UInt32(0) ..< 160 { index.assign(from: LocalID(replica: 0, counter: counter), count: 1, to: 3) }
        let typed = (index.fullPages, index.leaf(of: LocalID(replica: 0, counter: 159)), index.leaf(of: LocalID(replica: 0, counter: 160)))
        #expect(typed == (0, 3, nil))
        // A split moves ids 40 ..< 100 to leaf 4: pages 2 and 6 are cut, pages 3 to 5 move whole.
        index.assign(from: LocalID(replica: 0, counter: 40), count: 60, to: 4)
        let split = [39, 40, 47, 48, 95, 99, 100].map { index.leaf(of: LocalID(replica: 0, counter: $0)) }
        #expect(index.fullPages == 2 && split == [3, 4, 4, 4, 4, 4, 3])
        #expect(index.containsAll(from: LocalID(replica: 0, counter: 0), count: 160))
        #expect(!index.containsAll(from: LocalID(replica: 0, counter: 150), count: 11))
    }
}

extension IDIndexTests {
    /// Full pages in the leaves around the in-place limit (2¹⁴ − 1): the largest packed entry
    /// would pass `Int32.min`, so that leaf takes a full page, and its neighbours answer alike.
    @Test func fullPagesInLeavesAtTheInPlaceLimit() {
        var index = IDIndex()
        let leaves: [Int32] = [16_381, 16_382, 16_383, 16_384]
        for (page, leaf) in leaves.enumerated() {
            index.assign(from: LocalID(replica: 0, counter: UInt32(page * 16)), count: 16, to: leaf)
        }
        let found = (0 ..< 64).map { index.leaf(of: LocalID(replica: 0, counter: UInt32($0))) }
        #expect(found == leaves.flatMap { Array(repeating: Optional($0), count: 16) })
        #expect(index.containsAll(from: LocalID(replica: 0, counter: 0), count: 64))
    }
}
