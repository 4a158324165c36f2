import ChatCore
import Testing

@Suite struct BinaryCodingTests {
    @Test(arguments: [UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max])
    func varintRoundTrip(value: UInt64) throws {
        var writer = ByteWriter()
        writer.write(varint: value)
        var reader = ByteReader(writer.bytes)
        #expect(try reader.readVarint() == value)
        #expect(reader.isAtEnd)
    }

    @Test func nonCanonicalAndOverlongVarintsAreRejected() {
        var padded = ByteReader([0x80, 0x00])
        #expect(throws: BinaryDecodingError.malformedVarint(offset: 0)) { try padded.readVarint() }
        var tooLong = ByteReader(Array(repeating: 0xFF, count: 10) + [0x01])
        #expect(throws: BinaryDecodingError.self) { try tooLong.readVarint() }
        var truncated = ByteReader([0x80])
        #expect(throws: BinaryDecodingError.truncated(offset: 1)) { try truncated.readVarint() }
    }

    @Test func skippingVarintsStopsAfterTheLastOneAndRefusesTooFew() throws {
        var writer = ByteWriter()
        for value: UInt64 in [0, 300, 1 << 40, 5] { writer.write(varint: value) }
        var reader = ByteReader(writer.bytes)
        try reader.skipVarints(3)
        #expect(try reader.readVarint() == 5 && reader.isAtEnd)
        var short = ByteReader(writer.bytes)
        #expect(throws: BinaryDecodingError.truncated(offset: writer.bytes.count)) { try short.skipVarints(5) }
        #expect(short.offset == 0)
    }

    @Test func countsAreBoundedBeforeAllocation() {
        var writer = ByteWriter()
        writer.write(varint: UInt64(1) << 40)
        var reader = ByteReader(writer.bytes)
        #expect(throws: BinaryDecodingError.self) { try reader.readCount(limit: 1 << 20) }
        var short = ByteReader([1, 2])
        #expect(throws: BinaryDecodingError.truncated(offset: 0)) { try short.readBytes(3) }
    }

    @Test func strictUTF8Scalars() throws {
        for scalar in "aé€🎉".unicodeScalars {
            var writer = ByteWriter()
            scalar.encode(into: &writer)
            var reader = ByteReader(writer.bytes)
            #expect(try Unicode.Scalar.decode(from: &reader) == scalar)
        }
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xE2, 0x82]] {
            var reader = ByteReader(bad)
            #expect(throws: BinaryDecodingError.self) { try Unicode.Scalar.decode(from: &reader) }
        }
    }
}
