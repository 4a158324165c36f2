@testable import ChatCore
import Testing

/// Text-first loads (``SequenceCRDT/init(decodingTextFirst:replica:)``): the visible elements
/// at once, the rest decoded on first need. A sequence loaded so answers every read and edit as
/// one loaded in full, shares its completion between copies without mixing their edits, and
/// when its deferred sections are malformed keeps its text and refuses edits with a typed error.
@Suite struct TextFirstLoadTests {
    /// A sequence edited by two authors with deletions (seeded; printed on failure).
    static func edited(seed: UInt64) throws -> Text {
        try VisibleElementsTests.edited(seed: seed, keepsHistory: true)
    }

    /// Every read that needs ids, clocks or history, as a comparable list.
    static func reads(_ text: Text, seed: UInt64) throws -> [String] {
        var random = SeededGenerator(seed: seed)
        var answers = ["\(text.count) \(text.totalCount) \(text.spanCount) \(text.nextCounter) \(text.clock)"]
        answers.append("\(text.operations().count) \(text.operations(since: text.clock).count)")
        for _ in 0 ..< 40 {
            let index = Int.random(in: 0 ..< text.count, using: &random)
            let id = try text.visibleID(at: index)
            let origins = try text.insertionOrigins(at: index)
            answers.append("\(id) \(text.index(of: id) ?? -1) \(text.element(withID: id).map(String.init) ?? "-")"
                + " \(text.contains(from: id)) \(String(describing: origins))"
                + " \(text.canPlace(originLeft: origins.originLeft, originRight: origins.originRight))")
        }
        answers.append("\(String(describing: text.lastElement(before: nil) { $0.counter % 3 == 0 }))")
        return answers
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func readsAnswerAsAFullLoadDoes(seed: UInt64) throws {
        let state = try Self.edited(seed: seed).encodedState()
        let full = try Text(decoding: state)
        let textFirst = try Text(decodingTextFirst: state)
        #expect(!textFirst.isLoadComplete && full.isLoadComplete, "seed \(seed)")
        #expect(textFirst.elements == full.elements && textFirst.count == full.count && textFirst.text == full.text)
        #expect(textFirst.encodedState() == state, "an untouched text-first load is the state it was read from")
        #expect(try Self.reads(textFirst, seed: seed) == Self.reads(full, seed: seed), "seed \(seed)")
        #expect(!textFirst.isLoadComplete, "reads do not change the value")
    }

    @Test(arguments: [UInt64(4), 5])
    func editsAndMergesMatchAFullLoad(seed: UInt64) throws {
        let source = try Self.edited(seed: seed)
        let state = source.encodedState()
        var full = try Text(decoding: state, replica: ReplicaID(testValue: 7))
        var textFirst = try Text(decodingTextFirst: state, replica: ReplicaID(testValue: 7))
        var random = SeededGenerator(seed: seed)
        for step in 0 ..< 30 {
            let index = Int.random(in: 0 ... full.count, using: &random)
            #expect(try textFirst.insert(contentsOf: Array("ab".unicodeScalars), at: index)
                == full.insert(contentsOf: Array("ab".unicodeScalars), at: index), "seed \(seed), step \(step)")
            #expect(textFirst.isLoadComplete)
            let at = Int.random(in: 0 ..< full.count, using: &random)
            #expect(try textFirst.remove(at: at) == full.remove(at: at), "seed \(seed), step \(step)")
        }
        #expect(textFirst.encodedState() == full.encodedState())
        // A merge into a text-first load, and of one into another sequence.
        var mergedInto = try Text(decodingTextFirst: state)
        try mergedInto.merge(full)
        var other = source
        try other.merge(try Text(decodingTextFirst: full.encodedState()))
        #expect(mergedInto.elements == full.elements && other.elements == full.elements)
        var applied = try Text(decodingTextFirst: state)
        try applied.apply(contentsOf: full.operations(since: source.clock))
        #expect(applied.encodedState() == mergedInto.encodedState())
    }

    @Test func copiesShareTheCompletionButNotTheirEdits() throws {
        let state = try Self.edited(seed: 6).encodedState()
        let original = try Text(decodingTextFirst: state)
        let clock = original.clock // builds the completion once, for reads
        var edited = original
        try edited.insert("x", at: 0)
        #expect(edited.isLoadComplete && !original.isLoadComplete)
        #expect(original.encodedState() == state && original.clock == clock && original.elements.first != "x")
        #expect(edited.elements.first == "x" && edited.count == original.count + 1)
        var alone = try Text(decodingTextFirst: state)
        try alone.completeLoad()
        #expect(alone.isLoadComplete && alone.clock == clock)
    }

    /// Deferred sections replaced by same-length garbage: the text loads, the rest is refused.
    @Test func malformedDeferredSectionsAreRefusedWhenNeeded() throws {
        let text = try Self.edited(seed: 7)
        var state = text.encodedState()
        var reader = ByteReader(state)
        _ = try SequenceCore.decodeHeader(from: &reader, localReplica: nil)
        _ = try Text.readContent(count: Int(try reader.readVarint()), version: 4, from: &reader)
        let length = try reader.readCount(limit: reader.remaining)
        for offset in reader.offset ..< reader.offset + length { state[offset] = 0xFF }
        #expect(throws: SequenceError.self) { try Text(decoding: state) }
        var broken = try Text(decodingTextFirst: state)
        #expect(broken.elements == text.elements, "the visible text still shows")
        let firstID = try text.visibleID(at: 0)
        #expect(broken.clock == VectorClock() && broken.index(of: firstID) == nil)
        #expect(throws: SequenceError.self) { try broken.completeLoad() }
        #expect(throws: SequenceError.self) { try broken.insert("x", at: 0) }
        #expect(throws: SequenceError.self) { try broken.remove(at: 0) }
        #expect(throws: SequenceError.self) { try broken.merge(text) }
        var good = text
        #expect(throws: SequenceError.self, "a broken sequence is not merged as if empty") { try good.merge(broken) }
        #expect(good.encodedState() == text.encodedState())
        #expect(broken.elements == text.elements && broken.encodedState() == state, "a refused edit changes nothing")
    }

    @Test func truncatedStatesAreRefused() throws {
        let state = try Self.edited(seed: 8).encodedState()
        for cut in stride(from: 0, to: state.count, by: max(1, state.count / 97)) {
            #expect(throws: SequenceError.self, "cut at \(cut)") { try Text(decodingTextFirst: Array(state.prefix(cut))) }
        }
        #expect(throws: SequenceError.self) { try Text(decodingTextFirst: state + [0]) }
    }

    /// Reads from several tasks at once build the completion once and all see it.
    @Test func concurrentReadsAgree() async throws {
        let full = try Self.edited(seed: 9)
        let textFirst = try Text(decodingTextFirst: full.encodedState())
        let clocks = await withTaskGroup(of: VectorClock.self) { group in
            for _ in 0 ..< 8 { group.addTask { textFirst.clock } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(clocks.count == 8 && clocks.allSatisfy { $0 == full.clock })
    }
}
