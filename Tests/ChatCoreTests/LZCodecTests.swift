@testable import ChatCore
import Testing

/// The content codec of sequence states: what it compresses comes back byte for byte, and
/// malformed tokens throw without producing more than the stated size.
@Suite struct LZCodecTests {
    static func roundTrip(_ input: [UInt8]) throws -> [UInt8] {
        let packed = LZCodec.compress(input)
        var reader = ByteReader(packed)
        let output = try LZCodec.decompress(count: input.count, from: &reader)
        #expect(reader.isAtEnd)
        return output
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func compressedBytesComeBackExactly(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let words = ["the ", "merge ", "of ", "edits ", "é", "✓ ", "replica ", "\n"].map { Array($0.utf8) }
        var prose: [UInt8] = []
        for _ in 0 ..< 5_000 { prose += words[Int.random(in: 0 ..< words.count, using: &random)] }
        let noise = (0 ..< 3_000).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
        for input in [prose, noise, [], [7], Array(repeating: 0x61, count: 10_000), prose + noise + prose] {
            #expect(try Self.roundTrip(input) == input, "seed \(seed), \(input.count) bytes")
        }
        #expect(LZCodec.compress(prose).count * 2 < prose.count, "prose compresses (seed \(seed))")
    }

    @Test func malformedTokensThrow() throws {
        let packed = LZCodec.compress(Array(repeating: Array("abcdefgh".utf8), count: 50).flatMap { $0 })
        for cut in [1, packed.count / 2, packed.count - 1] {
            var reader = ByteReader(Array(packed.prefix(cut)))
            #expect(throws: BinaryDecodingError.self) { try LZCodec.decompress(count: 400, from: &reader) }
        }
        // A copy reaching before the start, a copy shorter than the minimum, a literal past the size.
        for bad: [UInt8] in [[1, 0x61, 4, 2], [1, 0x61, 2, 1], [9, 1, 2, 3]] {
            var reader = ByteReader(bad)
            #expect(throws: BinaryDecodingError.self) { try LZCodec.decompress(count: 8, from: &reader) }
        }
    }

    /// A sequence state with history compresses its text; one without keeps version 1.
    @Test func statesWithHistoryCompressTheirText() throws {
        var text = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 1))
        for round in 0 ..< 200 { _ = try text.insert(contentsOf: Array("round \(round) of typing ".unicodeScalars), at: text.count) }
        let state = text.encodedState()
        #expect(state.count < text.count, "the text takes fewer bytes than it has scalars")
        let loaded = try SequenceCRDT<Unicode.Scalar>(decoding: state)
        #expect(loaded.text == text.text && loaded.encodedState() == state)
    }
}
