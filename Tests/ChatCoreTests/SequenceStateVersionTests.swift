@testable import ChatCore
import Testing

/// The sequence state format's versions: version 4 (text first) is written; version 3 (one
/// content section after the spans) and version 2 (history counts one varint each) still load
/// to the same sequence.
@Suite struct SequenceStateVersionTests {
    /// `text`'s state as version 2 wrote it: the same structure and content, and the history's
    /// counts one varint each before five columns.
    static func versionTwo(_ text: Text) -> [UInt8] {
        var writer = ByteWriter(capacity: 1024)
        text.core.encodeStructure(version: 2, into: &writer)
        let bytes = writer.bytes
        writer = ByteWriter(capacity: 1024)
        text.core.tree.forEachRun { span in
            let start = Int(span.contentStart)
            for element in text.content[start ..< start + Int(span.length)] { element.encode(into: &writer) }
        }
        let log = text.core.log
        writer.write(varint: UInt64(log.count))
        for entry in log { writer.write(varint: entry.count) }
        var ends = [UInt32](repeating: 0, count: text.core.replicas.count)
        let counterDeltas = log.map { entry in
            defer { ends[Int(entry.id.replica)] = entry.id.counter &+ entry.count }
            return ColumnCoding.zigzag(Int64(entry.id.counter) - Int64(ends[Int(entry.id.replica)]))
        }
        let deletes = log.filter { !$0.isInsert }
        var previous: UInt32 = 0
        let targetDeltas = deletes.map { entry in
            defer { previous = entry.target.counter }
            return ColumnCoding.zigzag(Int64(entry.target.counter) - Int64(previous))
        }
        ColumnCoding.writeColumns([log.map { UInt64($0.id.replica) }, counterDeltas, log.map { $0.isInsert ? 0 : 1 },
                                   deletes.map { UInt64($0.target.replica) }, targetDeltas], into: &writer)
        return bytes + writer.bytes
    }

    /// `text`'s state as version 3 wrote it: the spans after the replicas, then every span's
    /// elements in one content section, then the history.
    static func versionThree(_ text: Text) -> [UInt8] {
        var writer = ByteWriter(capacity: 1024)
        text.core.encodeStructure(version: 3, into: &writer)
        var raw = ByteWriter(capacity: 1024)
        text.core.tree.forEachRun { span in
            let start = Int(span.contentStart)
            for element in text.content[start ..< start + Int(span.length)] { element.encode(into: &raw) }
        }
        SequenceStateFormat.writeContent(raw.bytes, into: &writer)
        text.core.encodeHistory(into: &writer)
        return writer.bytes
    }

    /// Two authors typing one character at a time at scattered places, deleting and typing over
    /// each other (most history entries count one element, as in a typing trace).
    static func edited() throws -> Text {
        var random = SeededGenerator(seed: 42)
        var ana = Text(replica: ReplicaID(testValue: 1))
        var ben = Text(replica: ReplicaID(testValue: 2))
        for round in 0 ..< 200 {
            try ana.insert(contentsOf: Array((round % 10 == 0 ? "word " : "w").unicodeScalars),
                           at: Int.random(in: 0 ... ana.count, using: &random))
            if ben.count > 4 { try ben.remove(at: Int.random(in: 0 ..< ben.count - 2, using: &random), count: 2) }
            try ben.insert(contentsOf: Array("x".unicodeScalars), at: Int.random(in: 0 ... ben.count, using: &random))
            try ana.merge(ben)
            try ben.merge(ana)
        }
        return ana
    }

    @Test func versionTwoStatesStillLoad() throws {
        let text = try Self.edited()
        let current = text.encodedState()
        #expect(current[2] == 4)
        let old = Self.versionTwo(text)
        let loaded = try Text(decoding: old)
        #expect(loaded.text == text.text && loaded.clock == text.clock && loaded.totalCount == text.totalCount)
        #expect(loaded.encodedState() == (try Text(decoding: current)).encodedState(), "a version 2 state loads to the same sequence")
        #expect(current.count < old.count, "the counts column takes fewer bytes (\(current.count) against \(old.count))")
    }

    @Test func versionThreeStatesStillLoad() throws {
        let text = try Self.edited()
        let old = Self.versionThree(text)
        #expect(old[2] == 3)
        // (A loaded sequence keeps its elements in span order, so runs the original kept apart
        // because their elements arrived apart may be stored as one: compare loaded states.)
        let current = try Text(decoding: text.encodedState()).encodedState()
        for loaded in [try Text(decoding: old), try Text(decodingTextFirst: old)] {
            #expect(loaded.isLoadComplete, "an older state is read whole")
            #expect(loaded.text == text.text && loaded.clock == text.clock && loaded.totalCount == text.totalCount)
            let same = loaded.encodedState() == current
            #expect(same, "a version 3 state loads to the same sequence")
            #expect(loaded.operations().count == text.operations().count)
        }
    }
}
