@testable import ChatCore
import Testing

/// A state whose spans share an id is refused, whichever way the decoder checks: pairwise for a
/// few spans, one bit per id for dense ids, by sorting for sparse ones. The checker of compact
/// message bodies agrees.
@Suite struct SpanOverlapTests {
    /// A version 1 state (no history) of one replica whose spans are `ranges` (counter, length)
    /// in document order, every element "a", with one applied range covering them all.
    static func state(_ ranges: [(counter: UInt32, length: UInt32)], contentBytes: Int? = nil) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(bytes: SequenceStateFormat.magic)
        writer.write(byte: 1)
        writer.write(byte: 0)
        writer.write(varint: UInt64(1))
        writer.write(bytes: ReplicaID(testValue: 7).bytes)
        writer.write(varint: UInt64(ranges.count))
        for range in ranges {
            writer.write(varint: UInt64(0))
            writer.write(varint: range.counter)
            writer.write(varint: range.length)
            writer.write(byte: 0) // visible, no origins
        }
        for _ in 0 ..< (contentBytes ?? ranges.reduce(0, { $0 + Int($1.length) })) { writer.write(byte: 0x61) }
        writer.write(varint: UInt64(1))
        writer.write(varint: UInt32(0))
        writer.write(varint: ranges.map { $0.counter + $0.length }.max() ?? 1)
        return writer.bytes
    }

    static func loads(_ bytes: [UInt8]) -> Bool {
        (try? SequenceCRDT<Unicode.Scalar>(decoding: bytes)) != nil
    }

    static func checks(_ bytes: [UInt8]) -> Bool {
        var checker = SequenceStateChecker()
        var reader = ByteReader(bytes)
        return (try? checker.check(&reader)) != nil && reader.isAtEnd
    }

    @Test(arguments: [
        ("few spans", UInt32(3), UInt32(5)),
        ("dense ids", 3, 5),
        ("sparse ids", 3, 5_000_000),
    ])
    func spansThatShareAnIdAreRefused(kind: String, length: UInt32, stride: UInt32) {
        let count = kind == "few spans" ? 4 : 40
        // Spans at scattered places, in an order that is not the ids' order.
        let disjoint = (0 ..< count).map { i in (counter: UInt32((i * 7) % count) * stride, length: length) }
        #expect(Self.loads(Self.state(disjoint)), "\(kind): disjoint spans load")
        #expect(Self.checks(Self.state(disjoint)), "\(kind): disjoint spans pass the checker")
        for (overlapping, note) in [
            (disjoint + [(counter: disjoint[1].counter + length - 1, length: 2)], "the end of one"),
            (disjoint + [(counter: disjoint[2].counter, length: 1)], "the start of one"),
            ([(counter: disjoint[3].counter, length: length + 4)] + disjoint, "one inside another"),
        ] {
            #expect(!Self.loads(Self.state(overlapping)), "\(kind): \(note) is refused")
            #expect(!Self.checks(Self.state(overlapping)), "\(kind): the checker refuses \(note)")
        }
    }

    /// Spans claiming lengths far beyond the input (which the content would refute) are
    /// checked for shared ids without one bit per claimed id: refused, without allocating
    /// hundreds of megabytes first.
    @Test func claimedLengthsBeyondTheInputAreRefusedCheaply() {
        let huge = (0 ..< 12).map { (counter: UInt32($0) << 28, length: UInt32(1) << 28 - 1) }
        #expect(!Self.loads(Self.state(huge, contentBytes: 100)))
        #expect(!Self.checks(Self.state(huge, contentBytes: 100)))
    }
}
