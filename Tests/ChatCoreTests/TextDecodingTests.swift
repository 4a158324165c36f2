@testable import ChatCore
import Testing

/// Text elements read in bulk (`Unicode.Scalar.decode(_:from:into:)`, which a state's content
/// goes through): ASCII runs found a word at a time and widened in place give exactly what
/// decoding scalar by scalar gives, and malformed UTF-8 anywhere is refused.
@Suite struct TextDecodingTests {
    /// Text mixing ASCII runs of every length around the word size with two-, three- and
    /// four-byte scalars (seeded; printed on failure).
    static func mixedText(seed: UInt64, scalars: Int) -> [Unicode.Scalar] {
        var random = SeededGenerator(seed: seed)
        let wide: [Unicode.Scalar] = ["é", "—", "✓", "👋", "中"]
        var text: [Unicode.Scalar] = []
        while text.count < scalars {
            for _ in 0 ..< Int.random(in: 0 ... 19, using: &random) { text.append(Unicode.Scalar(UInt8.random(in: 0x20 ... 0x7E, using: &random))) }
            text.append(wide[Int.random(in: 0 ..< wide.count, using: &random)])
        }
        return Array(text.prefix(scalars))
    }

    static func utf8(_ text: [Unicode.Scalar]) -> [UInt8] {
        var writer = ByteWriter()
        for scalar in text { scalar.encode(into: &writer) }
        return writer.bytes
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func bulkDecodingMatchesScalarByScalar(seed: UInt64) throws {
        let text = Self.mixedText(seed: seed, scalars: 3_000)
        let bytes = Self.utf8(text) + [0x41, 0x42] // bytes after the text stay unread
        for count in [0, 1, 7, 8, 9, 17, 2_999, 3_000] {
            var reader = ByteReader(bytes)
            var bulk = ContiguousArray<Unicode.Scalar>()
            try Unicode.Scalar.decode(count, from: &reader, into: &bulk)
            #expect(Array(bulk) == Array(text.prefix(count)), "seed \(seed), count \(count)")
            #expect(reader.offset == Self.utf8(Array(text.prefix(count))).count, "seed \(seed), count \(count)")
            // Appended to elements already there: the same scalars after them.
            var appended: ContiguousArray<Unicode.Scalar> = ["x"]
            reader = ByteReader(bytes)
            try Unicode.Scalar.decode(count, from: &reader, into: &appended)
            #expect(Array(appended.dropFirst()) == Array(text.prefix(count)))
        }
    }

    @Test func asciiRunsStopAtTheFirstHighByteAndTheLimit() {
        for length in 0 ..< 40 {
            for stop in [0, 1, 7, 8, 9, 16, 33] where stop <= length {
                var bytes = [UInt8](repeating: 0x61, count: length)
                if stop < length { bytes[stop] = 0xC3 }
                var reader = ByteReader(bytes)
                #expect(reader.readASCIIRun(limit: .max).count == stop, "length \(length), stop \(stop)")
                #expect(reader.offset == stop)
                var limited = ByteReader(bytes)
                #expect(limited.readASCIIRun(limit: 5).count == min(stop, 5))
            }
        }
    }

    @Test(arguments: [UInt64(5), 6])
    func malformedUTF8IsRefusedWherever(seed: UInt64) {
        let text = Self.mixedText(seed: seed, scalars: 400)
        let bytes = Self.utf8(text)
        var random = SeededGenerator(seed: seed)
        for _ in 0 ..< 50 {
            var broken = bytes
            let at = Int.random(in: 0 ..< broken.count, using: &random)
            broken[at] = [0xFF, 0xC0, 0x80, 0xED][Int.random(in: 0 ..< 4, using: &random)]
            var reader = ByteReader(broken)
            var elements = ContiguousArray<Unicode.Scalar>()
            let bulk = (try? Unicode.Scalar.decode(text.count, from: &reader, into: &elements)).map { Array(elements) }
            // The reference: one scalar at a time (a replaced byte may still form UTF-8).
            var one = ByteReader(broken)
            let reference = try? (0 ..< text.count).map { _ throws(BinaryDecodingError) in try Unicode.Scalar.decode(from: &one) }
            #expect(bulk == reference, "seed \(seed), byte \(at)")
        }
        var short = ByteReader(Array(bytes.prefix(bytes.count / 2)))
        var elements = ContiguousArray<Unicode.Scalar>()
        #expect(throws: BinaryDecodingError.self) { try Unicode.Scalar.decode(text.count, from: &short, into: &elements) }
    }
}
