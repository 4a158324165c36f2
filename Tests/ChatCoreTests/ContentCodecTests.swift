@testable import ChatCore
import Testing

/// The content codecs of sequence states (``DeflateCodec``, and ``LZCodec`` that the first
/// builds of version 3 wrote): what they compress comes back byte for byte, and malformed input
/// throws without producing more than the stated size.
@Suite struct ContentCodecTests {
    /// One codec's compress and decompress.
    struct Codec: CustomTestStringConvertible, Sendable {
        let name: String
        let compress: @Sendable ([UInt8]) -> [UInt8]
        let decompress: @Sendable (Int, inout ByteReader) throws(BinaryDecodingError) -> [UInt8]
        var testDescription: String { name }
    }

    static let codecs = [
        Codec(name: "deflate", compress: { DeflateCodec.compress($0) ?? [] },
              decompress: { (count, reader) throws(BinaryDecodingError) in try DeflateCodec.decompress(count: count, from: &reader) }),
        Codec(name: "lz", compress: { LZCodec.compress($0) },
              decompress: { (count, reader) throws(BinaryDecodingError) in try LZCodec.decompress(count: count, from: &reader) }),
    ]

    static func prose(seed: UInt64) -> [UInt8] {
        var random = SeededGenerator(seed: seed)
        let words = ["the ", "merge ", "of ", "edits ", "é", "✓ ", "replica ", "\n"].map { Array($0.utf8) }
        var prose: [UInt8] = []
        for _ in 0 ..< 5_000 { prose += words[Int.random(in: 0 ..< words.count, using: &random)] }
        return prose
    }

    @Test(arguments: codecs, [UInt64(1), 2, 3])
    func compressedBytesComeBackExactly(codec: Codec, seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let prose = Self.prose(seed: seed)
        let noise = (0 ..< 3_000).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
        for input in [prose, noise, [], [7], Array(repeating: 0x61, count: 10_000), prose + noise + prose] {
            let packed = codec.compress(input)
            var reader = ByteReader(packed + [0xEE]) // a following byte is left for the next section
            #expect(try codec.decompress(input.count, &reader) == input, "\(codec.name), seed \(seed), \(input.count) bytes")
            #expect(reader.remaining == 1, "\(codec.name) stops at its stream's end (seed \(seed))")
        }
        #expect(codec.compress(prose).count * 2 < prose.count, "prose compresses (\(codec.name), seed \(seed))")
    }

    /// Deflate's entropy coding is what takes a typing trace's text below Loro's state.
    @Test func deflateTakesProseSmallerThanLZ() {
        let prose = Self.prose(seed: 4)
        #expect((DeflateCodec.compress(prose)?.count ?? .max) * 3 < LZCodec.compress(prose).count * 2)
    }

    @Test(arguments: codecs)
    func truncatedStreamsThrow(codec: Codec) throws {
        let input = Array(repeating: Array("abcdefgh".utf8), count: 50).flatMap { $0 } + Self.prose(seed: 5)
        let packed = codec.compress(input)
        for cut in [0, 1, packed.count / 2, packed.count - 1] {
            var reader = ByteReader(Array(packed.prefix(cut)))
            #expect(throws: BinaryDecodingError.self, "\(codec.name) cut at \(cut)") { try codec.decompress(input.count, &reader) }
        }
    }

    /// A stream is held to the size the state states: one that ends before it, or would run
    /// past it, throws (and nothing past the size is written).
    @Test(arguments: codecs)
    func streamsAreHeldToTheirStatedSize(codec: Codec) throws {
        let input = Self.prose(seed: 6)
        let packed = codec.compress(input)
        for count in [input.count - 1, input.count + 1, input.count / 2, 0] {
            var reader = ByteReader(packed)
            #expect(throws: BinaryDecodingError.self, "\(codec.name) told \(count) of \(input.count)") {
                try codec.decompress(count, &reader)
            }
        }
    }

    @Test func malformedLZTokensThrow() throws {
        // A copy reaching before the start, a copy shorter than the minimum, a literal past the size.
        for bad: [UInt8] in [[1, 0x61, 4, 2], [1, 0x61, 2, 1], [9, 1, 2, 3]] {
            var reader = ByteReader(bad)
            #expect(throws: BinaryDecodingError.self) { try LZCodec.decompress(count: 8, from: &reader) }
        }
    }

    /// Seeded garbage never traps the inflater, and what it accepts never exceeds the size.
    @Test(arguments: [UInt64(7), 8])
    func garbageNeverTrapsTheInflater(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let packed = DeflateCodec.compress(Self.prose(seed: seed)) ?? []
        for _ in 0 ..< 2_000 {
            var bytes = packed
            for _ in 0 ..< Int.random(in: 1 ... 8, using: &random) {
                bytes[Int.random(in: 0 ..< bytes.count, using: &random)] = UInt8.random(in: 0 ... 255, using: &random)
            }
            var reader = ByteReader(bytes)
            if let output = try? DeflateCodec.decompress(count: 1_000, from: &reader) {
                #expect(output.count == 1_000, "seed \(seed)")
            }
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

    /// States whose text was written by the LZ codec, or left as it is, still load.
    @Test(arguments: [SequenceStateFormat.ContentCoding.lz, .raw])
    func statesInTheOtherContentModesStillLoad(coding: SequenceStateFormat.ContentCoding) throws {
        var text = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 1))
        for round in 0 ..< 200 { _ = try text.insert(contentsOf: Array("round \(round) of typing ".unicodeScalars), at: text.count / 2) }
        _ = try text.remove(at: 100, count: 50)
        var writer = ByteWriter()
        text.encodeState(into: &writer, contentCoding: coding)
        #expect(writer.bytes != text.encodedState(), "\(coding) writes its own mode")
        let loaded = try SequenceCRDT<Unicode.Scalar>(decoding: writer.bytes)
        #expect(loaded.text == text.text && loaded.encodedState() == text.encodedState())
        #expect(loaded.operations() == text.operations())
    }
}
