@testable import ChatCore
import Testing

typealias Text = SequenceCRDT<Unicode.Scalar>

func scalars(_ string: String) -> [Unicode.Scalar] { Array(string.unicodeScalars) }

@Suite struct SequenceCRDTTests {
    let alice = ReplicaID(testValue: 1), bob = ReplicaID(testValue: 2), carol = ReplicaID(testValue: 3)

    @Test func localInsertAndDelete() throws {
        var text = Text(replica: alice)
        try text.insert(contentsOf: scalars("hello world"), at: 0)
        try text.insert(contentsOf: scalars(","), at: 5)
        try text.remove(at: 6, count: 6)
        try text.insert(contentsOf: scalars(" there"), at: 6)
        #expect(text.text == "hello, there")
        #expect(text.count == 12)
        #expect(text.totalCount == 18)
    }

    @Test func typingOnIsOneSpan() throws {
        var text = Text(replica: alice)
        for (i, scalar) in scalars("one run of typing").enumerated() { try text.insert(scalar, at: i) }
        #expect(text.spanCount == 1)
        // Backspacing the tail leaves one live span and one tombstone span.
        for i in stride(from: 16, through: 10, by: -1) { try text.remove(at: i) }
        #expect(text.text == "one run of")
        #expect(text.spanCount == 2)
    }

    @Test func indexErrorsAreTyped() throws {
        var text = Text(replica: alice)
        #expect(throws: SequenceError.indexOutOfBounds(index: 1, count: 0)) { try text.insert(scalars("x")[0], at: 1) }
        try text.insert(contentsOf: scalars("ab"), at: 0)
        #expect(throws: SequenceError.indexOutOfBounds(index: 2, count: 2)) { try text.remove(at: 1, count: 2) }
        #expect(throws: SequenceError.emptyOperation) { try text.insert(contentsOf: [], at: 0) }
        #expect(throws: SequenceError.emptyOperation) { try text.remove(at: 0, count: 0) }
        #expect(throws: SequenceError.counterAlreadyUsed(OpID(replica: alice, counter: 0))) {
            try text.insert(contentsOf: scalars("c"), at: 0, firstCounter: 0)
        }
    }

    @Test func idsAndIndexes() throws {
        var text = Text(replica: alice)
        try text.insert(contentsOf: scalars("abc"), at: 0)
        let b = try text.id(at: 1)
        #expect(b == OpID(replica: alice, counter: 1))
        #expect(text.index(of: b) == 1)
        try text.remove(at: 0)
        #expect(text.index(of: b) == 0)
        try text.remove(at: 0)
        #expect(text.index(of: b) == nil)
        #expect(text.element(withID: b) == "b")
    }

    @Test func applyingTwiceChangesNothing() throws {
        var source = Text(replica: alice)
        var ops = [try source.insert(contentsOf: scalars("hello"), at: 0)]
        ops += try source.remove(at: 1, count: 2)
        var replica = Text(replica: bob)
        for op in ops { #expect(try replica.apply(op) == .applied) }
        let state = replica.encodedState()
        for op in ops { #expect(try replica.apply(op) == .duplicate) }
        #expect(replica.encodedState() == state)
        #expect(replica.text == "hlo")
    }

    @Test func partlyKnownOperationAppliesOnlyTheNewPart() throws {
        var source = Text(replica: alice)
        let first = try source.insert(contentsOf: scalars("ab"), at: 0)
        _ = try source.insert(contentsOf: scalars("cd"), at: 2)
        var replica = Text(replica: bob)
        try replica.apply(first)
        // The whole run again, as one op: only "cd" is new.
        for op in source.operations() { try replica.apply(op) }
        #expect(replica.text == "abcd")
        #expect(replica.totalCount == 4)
    }

    @Test func operationsWaitForMissingOrigins() throws {
        var source = Text(replica: alice)
        let ops = [try source.insert(contentsOf: scalars("ab"), at: 0),
                   try source.insert(contentsOf: scalars("X"), at: 1)] + (try source.remove(at: 0))
        var replica = Text(replica: bob)
        #expect(try replica.apply(ops[2]) == .pending)
        #expect(try replica.apply(ops[1]) == .pending)
        #expect(replica.pendingCount == 2)
        #expect(try replica.apply(ops[0]) == .applied)
        #expect(replica.pendingCount == 0)
        #expect(replica.text == source.text)
        #expect(replica.text == "Xb")
    }

    @Test func invalidOriginsAreRefused() throws {
        var source = Text(replica: alice)
        try source.insert(contentsOf: scalars("ab"), at: 0)
        var replica = Text(replica: bob)
        try replica.merge(source)
        let forged = SequenceOp<Unicode.Scalar>.insert(SequenceInsert(
            id: OpID(replica: carol, counter: 0), originLeft: OpID(replica: alice, counter: 1),
            originRight: OpID(replica: alice, counter: 0), content: scalars("z")))
        #expect(throws: SequenceError.invalidOrigins(OpID(replica: carol, counter: 0))) { try replica.apply(forged) }
        #expect(replica.text == "ab")
    }

    @Test func pendingBufferIsBounded() throws {
        var replica = Text(replica: bob)
        let ghost = OpID(replica: carol, counter: 99)
        for i in 0 ..< Text.pendingLimit {
            let op = SequenceOp<Unicode.Scalar>.insert(SequenceInsert(
                id: OpID(replica: alice, counter: UInt32(i)), originLeft: ghost, originRight: nil, content: scalars("x")))
            #expect(try replica.apply(op) == .pending)
        }
        let one = SequenceOp<Unicode.Scalar>.insert(SequenceInsert(
            id: OpID(replica: alice, counter: UInt32(Text.pendingLimit)), originLeft: ghost, originRight: nil, content: scalars("x")))
        #expect(throws: SequenceError.pendingBufferFull(limit: Text.pendingLimit)) { try replica.apply(one) }
    }

    @Test func counterOverflowIsRefused() throws {
        var replica = Text(replica: bob)
        let op = SequenceOp<Unicode.Scalar>.insert(SequenceInsert(
            id: OpID(replica: alice, counter: UInt32.max - 1), originLeft: nil, originRight: nil, content: scalars("xy")))
        #expect(throws: SequenceError.counterOverflow) { try replica.apply(op) }
    }

    // MARK: Interleaving (examples from the Fugue paper and reference-crdts)

    /// Two replicas type a word each at the same place: the words stay whole.
    @Test func concurrentForwardTypingDoesNotInterleave() throws {
        var a = Text(replica: alice), b = Text(replica: bob)
        for (i, s) in scalars("abc").enumerated() { try a.insert(s, at: i) }
        for (i, s) in scalars("xyz").enumerated() { try b.insert(s, at: i) }
        try a.merge(b)
        try b.merge(a)
        #expect(a.text == b.text)
        #expect(a.text == "abcxyz" || a.text == "xyzabc")
    }

    /// Typing backwards (each character inserted before the previous one) must not interleave
    /// either: FugueMax's guarantee that plain YATA lacks.
    @Test func concurrentBackwardTypingDoesNotInterleave() throws {
        var a = Text(replica: alice), b = Text(replica: bob)
        for s in scalars("cba") { try a.insert(s, at: 0) }
        for s in scalars("zyx") { try b.insert(s, at: 0) }
        try a.merge(b)
        try b.merge(a)
        #expect(a.text == b.text)
        #expect(a.text == "abcxyz" || a.text == "xyzabc")
    }

    /// Concurrent inserts into the middle of an existing word by three replicas.
    @Test func threeWayConcurrentInsertsInsideAWord() throws {
        var base = Text(replica: alice)
        try base.insert(contentsOf: scalars("[]"), at: 0)
        var a = base, b = Text(replica: bob), c = Text(replica: carol)
        try b.merge(base)
        try c.merge(base)
        for (i, s) in scalars("one").enumerated() { try a.insert(s, at: 1 + i) }
        for (i, s) in scalars("two").enumerated() { try b.insert(s, at: 1 + i) }
        for (i, s) in scalars("six").enumerated() { try c.insert(s, at: 1 + i) }
        var orders: Set<String> = []
        for order in [[a, b, c], [c, b, a], [b, a, c], [b, c, a]] {
            var merged = order[0]
            try merged.merge(order[1])
            try merged.merge(order[2])
            orders.insert(merged.text)
        }
        #expect(orders.count == 1, "every merge order gives one text: \(orders)")
        let result = try #require(orders.first)
        #expect(result.hasPrefix("[") && result.hasSuffix("]"))
        for word in ["one", "two", "six"] { #expect(result.contains(word), "\(word) is whole in \(result)") }
    }

    /// The reference-crdts case where one replica types after another's insert that a third
    /// has not seen: origins, not arrival order, decide.
    @Test func insertAfterConcurrentInsertResolvesByOrigins() throws {
        var a = Text(replica: alice), b = Text(replica: bob), c = Text(replica: carol)
        let opA = try a.insert(scalars("a")[0], at: 0)
        let opB = try b.insert(scalars("b")[0], at: 0)
        try c.apply(opA)
        let opC = try c.insert(scalars("c")[0], at: 1) // after "a"
        var x = Text(replica: ReplicaID(testValue: 9)), y = Text(replica: ReplicaID(testValue: 10))
        for op in [opA, opB, opC] { try x.apply(op) }
        for op in [opB, opC, opA] { try y.apply(op) }
        #expect(x.text == y.text)
        #expect(x.text.contains("ac"))
    }

    // MARK: Delta extraction and state encoding

    @Test func deltaSinceAClockBringsAReplicaUpToDate() throws {
        var a = Text(replica: alice)
        try a.insert(contentsOf: scalars("shared "), at: 0)
        var b = Text(replica: bob)
        try b.merge(a)
        let clockBefore = b.clock
        try a.insert(contentsOf: scalars("base"), at: 7)
        try a.remove(at: 0, count: 2)
        try a.insert(contentsOf: scalars("++"), at: 3)
        let delta = a.operations(since: clockBefore)
        #expect(delta.allSatisfy { $0.id.replica == alice && $0.id.counter >= clockBefore[alice] })
        try b.apply(contentsOf: delta)
        #expect(b.text == a.text)
        #expect(b.clock == a.clock)
        #expect(a.operations(since: a.clock).isEmpty)
    }

    @Test func stateEncodingRoundTrips() throws {
        var a = Text(replica: alice), b = Text(replica: bob)
        try a.insert(contentsOf: scalars("héllo wörld 🎉"), at: 0)
        try b.merge(a)
        try b.insert(contentsOf: scalars("dear "), at: 6)
        try a.remove(at: 1, count: 4)
        try a.merge(b)
        let encoded = a.encodedState()
        let loaded = try Text(decoding: encoded)
        #expect(loaded.text == a.text)
        #expect(loaded.clock == a.clock)
        #expect(loaded.totalCount == a.totalCount)
        #expect(loaded.encodedState() == encoded, "encoding is canonical")
        // The loaded replica can serve deltas and keep editing.
        var c = Text(replica: carol)
        try c.apply(contentsOf: loaded.operations())
        #expect(c.text == a.text)
        var edited = try Text(decoding: encoded, replica: carol)
        try edited.insert(contentsOf: scalars("!"), at: edited.count)
        #expect(edited.text == a.text + "!")
    }

    @Test func malformedStatesThrow() throws {
        var a = Text(replica: alice)
        try a.insert(contentsOf: scalars("abc"), at: 0)
        try a.remove(at: 1)
        let good = a.encodedState()
        #expect(throws: SequenceError.self) { try Text(decoding: []) }
        #expect(throws: SequenceError.self) { try Text(decoding: Array(good.dropLast())) }
        #expect(throws: SequenceError.self) { try Text(decoding: good + [0]) }
        var wrongVersion = good
        wrongVersion[2] = 9
        #expect(throws: SequenceError.malformedState("unsupported version 9")) { try Text(decoding: wrongVersion) }
        // Every single-byte corruption either throws or decodes to a usable sequence; none traps.
        for index in good.indices {
            for value: UInt8 in [0, 1, 0x7F, 0x80, 0xFF] {
                var bytes = good
                bytes[index] = value
                if let loaded = try? Text(decoding: bytes) { _ = loaded.text }
            }
        }
        // Every truncation throws.
        for length in 0 ..< good.count {
            #expect(throws: SequenceError.self) { try Text(decoding: Array(good.prefix(length))) }
        }
    }

    // MARK: Convergence under reordering, duplication and delay

    @Test(arguments: 0 ..< 60)
    func replicasConvergeUnderRandomDelivery(seed: Int) throws {
        let replicas = 3 + seed % 3
        let outcome = try SequenceSimulation.run(.init(replicas: replicas, steps: 300, seed: UInt64(seed)))
        #expect(outcome.converged, "replicas diverged; reproduce with seed \(seed): \(outcome.texts)")
        let loaded = try outcome.states.map { try Text(decoding: $0) }
        #expect(Set(loaded.map(\.totalCount)).count == 1, "seed \(seed)")
        #expect(Set(loaded.map(\.clock)).count == 1, "seed \(seed)")
    }

    /// The same set of operations applied in many orders gives one state: merge is commutative,
    /// associative and idempotent.
    @Test(arguments: 0 ..< 20)
    func applyOrderDoesNotMatter(seed: Int) throws {
        var random = SeededGenerator(seed: UInt64(seed) &* 7919)
        var writers = [Text(replica: alice), Text(replica: bob), Text(replica: carol)]
        var all: [SequenceOp<Unicode.Scalar>] = []
        for step in 0 ..< 60 {
            let w = Int.random(in: 0 ..< 3, using: &random)
            if step % 10 == 9 { // occasional sync
                for other in 0 ..< 3 where other != w { try writers[w].merge(writers[other]) }
            }
            if writers[w].count > 2, Bool.random(using: &random) {
                all += try writers[w].remove(at: Int.random(in: 0 ..< writers[w].count - 1, using: &random), count: 2)
            } else {
                all.append(try writers[w].insert(contentsOf: scalars("w\(w)s\(step)"),
                                                 at: Int.random(in: 0 ... writers[w].count, using: &random)))
            }
        }
        var texts: Set<String> = []
        for round in 0 ..< 6 {
            var shuffled = all + all.prefix(round * 3)
            shuffled.shuffle(using: &random)
            var replica = Text(replica: ReplicaID(testValue: 100))
            try replica.apply(contentsOf: shuffled)
            #expect(replica.pendingCount == 0, "seed \(seed)")
            texts.insert(replica.text)
        }
        #expect(texts.count == 1, "orders disagree; seed \(seed)")
    }

    /// A removal whose count reaches past `Int.max` from its index is refused, not trapped on
    /// while the error names the last index asked for.
    @Test func aHugeRemovalCountIsRefused() throws {
        var text = Text(replica: ReplicaID(testValue: 1))
        try text.insert(contentsOf: Array("abcdef".unicodeScalars), at: 0)
        #expect(throws: SequenceError.indexOutOfBounds(index: .max, count: 6)) { try text.remove(at: 2, count: .max) }
        #expect(throws: SequenceError.indexOutOfBounds(index: 6, count: 6)) { try text.remove(at: 2, count: 5) }
        #expect(text.text == "abcdef")
    }
}
