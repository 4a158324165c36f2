@testable import ChatCore
import Testing

/// The id index: dense page tables for ids as dense as a typing history's, a dictionary for
/// counters far ahead (sparse or hostile), and the same answers either way.
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
