import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Testing

/// The pasts a ``CausalHistory`` derives from hash dependencies, against a direct computation.
@Suite struct CausalHistoryTests {
    /// Four authors write 300 batches, each naming a random subset of the others' latest
    /// batches; every batch's past (rebuilt from deltas and checkpoints, cached or not) equals
    /// the union of what it names, computed directly, and the heads are the unnamed batches.
    @Test(arguments: [UInt64(1), 2, 3])
    func derivedPastsEqualTheClosureOfWhatEachBatchNames(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var authors = (1 ... 4).map { ChainBuilder(seed: UInt8($0), conversation: conversation) }
        var history = CausalHistory()
        var expected: [[UInt8]: VectorClock] = [:]
        var afters: [[UInt8]: VectorClock] = [:]
        var named: Set<[UInt8]> = []
        var all: [[UInt8]] = []
        for step in 0 ..< 300 {
            let index = Int.random(in: 0 ..< authors.count, using: &random)
            let previous = authors[index].next > 0 ? authors[index].previous : nil
            let dependencies = authors.indices.filter { $0 != index && authors[$0].next > 0 && Bool.random(using: &random) }
                .map { authors[$0].head }.sorted()
            let bytes = authors[index].batch(messages: 1 + step % 3, dependencies: dependencies)
            let batch = try authenticated(bytes)
            var past = VectorClock()
            for reference in (previous.map { [$0] } ?? []) + dependencies.map(\.hash) { past.merge(afters[reference] ?? VectorClock()) }
            if batch.firstCounter > 0 { past[batch.author] = batch.firstCounter }
            #expect(history.missingReferences(of: batch.batch.content).isEmpty)
            let derived = history.derivePast(of: batch.batch.content)
            #expect(derived == past, "seed \(seed), step \(step)")
            history.add(batch, past: derived, main: true)
            var after = past
            after[batch.author] = batch.endCounter
            expected[batch.hash] = past
            afters[batch.hash] = after
            named.formUnion((previous.map { [$0] } ?? []) + dependencies.map(\.hash))
            all.append(batch.hash)
        }
        for hash in all.shuffled(using: &random) { #expect(history.past(of: hash) == expected[hash], "seed \(seed)") }
        let heads = Set(all).subtracting(named)
        let stranger = ReplicaID(testValue: 99)
        #expect(Set(history.dependencies(for: stranger).map(\.hash)) == heads)
        #expect(history.count == 300)
        #expect(history.past(of: [UInt8](repeating: 1, count: 32)) == nil)
    }

    /// A dependency whose hash names a batch of another author, or that ends elsewhere, does
    /// not match; an unknown one is missing.
    @Test func dependenciesAreCheckedByHashAuthorAndCount() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        var history = CausalHistory()
        let batch = try authenticated(alice.batch())
        history.add(batch, past: history.derivePast(of: batch.batch.content), main: true)
        #expect(history.matches(alice.head) == true)
        var wrongCount = alice.head
        wrongCount.count += 1
        #expect(history.matches(wrongCount) == false)
        var wrongAuthor = alice.head
        wrongAuthor.replica = ReplicaID(testValue: 5)
        #expect(history.matches(wrongAuthor) == false)
        var unknown = alice.head
        unknown.hash = [UInt8](repeating: 9, count: 32)
        #expect(history.matches(unknown) == nil)
    }

    /// A batch kept as a side batch first (its author forked) and accepted on the chain later
    /// becomes the head in place of its previous one: a new batch names one dependency per
    /// author, so its encoding stays canonical.
    @Test func aSideBatchAcceptedLaterReplacesItsPreviousAsHead() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        let first = try authenticated(alice.batch())
        let second = try authenticated(alice.batch())
        var history = CausalHistory()
        history.add(first, past: history.derivePast(of: first.batch.content), main: true)
        history.add(second, past: history.derivePast(of: second.batch.content), main: false)
        #expect(history.dependencies(for: ReplicaID(testValue: 9)).map(\.hash) == [first.hash])
        history.add(second, past: history.derivePast(of: second.batch.content), main: true)
        let named = history.dependencies(for: ReplicaID(testValue: 9))
        #expect(named == [alice.head])
        #expect(history.count == 2)
    }
}
