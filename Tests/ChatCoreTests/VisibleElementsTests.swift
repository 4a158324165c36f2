@testable import ChatCore
import Testing

/// Reading a state's text alone (``SequenceCRDT/visibleElements(ofState:)``, what a compact
/// message body's readers use) shows what loading the state shows, in every version and
/// content mode, and refuses what it cannot read.
@Suite struct VisibleElementsTests {
    /// Two authors editing at random places with deletions, merged (seeded; printed on failure),
    /// with or without the history kept.
    static func edited(seed: UInt64, keepsHistory: Bool) throws -> Text {
        var random = SeededGenerator(seed: seed)
        var ana = Text(replica: ReplicaID(testValue: 1))
        var ben = Text(replica: ReplicaID(testValue: 2))
        for _ in 0 ..< 120 {
            try ana.insert(contentsOf: Array("é typed ".unicodeScalars), at: Int.random(in: 0 ... ana.count, using: &random))
            if ben.count > 6 { try ben.remove(at: Int.random(in: 0 ..< ben.count - 3, using: &random), count: 3) }
            try ben.insert(contentsOf: Array("✓".unicodeScalars), at: Int.random(in: 0 ... ben.count, using: &random))
            if Bool.random(using: &random) {
                try ana.merge(ben)
                try ben.merge(ana)
            }
        }
        try ana.merge(ben)
        guard !keepsHistory else { return ana }
        // Merging needs history; a replica without it (a message body) takes the operations.
        var plain = Text(replica: ReplicaID(testValue: 3), keepsHistory: false)
        try plain.apply(contentsOf: ana.operations())
        return plain
    }

    @Test(arguments: [UInt64(1), 2, 3], [true, false])
    func theTextReadAloneIsTheLoadedText(seed: UInt64, keepsHistory: Bool) throws {
        let text = try Self.edited(seed: seed, keepsHistory: keepsHistory)
        var states = [text.encodedState()]
        for coding in [SequenceStateFormat.ContentCoding.lz, .raw] where keepsHistory {
            var writer = ByteWriter()
            text.encodeState(into: &writer, contentCoding: coding)
            states.append(writer.bytes)
        }
        if keepsHistory { states.append(SequenceStateVersionTests.versionTwo(text)) }
        for (index, state) in states.enumerated() {
            #expect(try Text.visibleElements(ofState: state) == text.elements, "seed \(seed), state \(index)")
        }
    }

    @Test func aCompactBodyShowsItsLiveText() throws {
        var sequence = Text(replica: ReplicaID(testValue: 3), keepsHistory: false)
        try sequence.insert(contentsOf: Array("Hello, wrld 👋".unicodeScalars), at: 0)
        try sequence.insert("o", at: 8)
        try sequence.remove(at: 0, count: 1)
        var body = MessageBody(sequence)
        let live = (body.text, body.count)
        body.compact()
        #expect(!body.isLive && body.text == live.0 && body.count == live.1 && body.text == "ello, world 👋")
    }

    /// Truncated or corrupted structure and content are refused with a typed error.
    @Test func unreadableStatesAreRefused() throws {
        let state = try Self.edited(seed: 4, keepsHistory: true).encodedState()
        for cut in [0, 3, 40, state.count / 3] {
            #expect(throws: SequenceError.self, "cut at \(cut)") { try Text.visibleElements(ofState: Array(state.prefix(cut))) }
        }
        var wrongVersion = state
        wrongVersion[2] = 9
        #expect(throws: SequenceError.self) { try Text.visibleElements(ofState: wrongVersion) }
    }
}
