/// An element type a ``SequenceCRDT`` can save in its binary state encoding.
public protocol SequenceElementCodable: Sendable {
    /// Appends the element's canonical encoding.
    func encode(into writer: inout ByteWriter)
    /// Reads one element; throws on malformed input, never traps.
    static func decode(from reader: inout ByteReader) throws(BinaryDecodingError) -> Self
    /// Reads `count` elements, appending them to `elements`.
    static func decode(_ count: Int, from reader: inout ByteReader, into elements: inout ContiguousArray<Self>)
        throws(BinaryDecodingError)
}

extension SequenceElementCodable {
    /// One element at a time.
    public static func decode(_ count: Int, from reader: inout ByteReader, into elements: inout ContiguousArray<Self>)
        throws(BinaryDecodingError) {
        // `count` is untrusted; every element takes at least one byte of input.
        elements.reserveCapacity(elements.count + min(count, reader.remaining))
        for _ in 0 ..< count { elements.append(try decode(from: &reader)) }
    }
}

extension Unicode.Scalar: SequenceElementCodable {
    /// UTF-8.
    @inlinable
    public func encode(into writer: inout ByteWriter) {
        for unit in UTF8.encode(self) ?? UTF8.EncodedScalar() { writer.write(byte: unit) }
    }

    /// Strict UTF-8: shortest form, no surrogates, at most U+10FFFF.
    @inlinable
    public static func decode(from reader: inout ByteReader) throws(BinaryDecodingError) -> Unicode.Scalar {
        let start = reader.offset
        let lead = try reader.readByte()
        if lead < 0x80 { return Unicode.Scalar(lead) }
        let extra: Int
        var value: UInt32
        switch lead {
        case 0xC2 ... 0xDF: extra = 1; value = UInt32(lead & 0x1F)
        case 0xE0 ... 0xEF: extra = 2; value = UInt32(lead & 0x0F)
        case 0xF0 ... 0xF4: extra = 3; value = UInt32(lead & 0x07)
        default: throw .invalidValue(offset: start, reason: "invalid UTF-8 lead byte")
        }
        for _ in 0 ..< extra {
            let byte = try reader.readByte()
            guard byte & 0xC0 == 0x80 else { throw .invalidValue(offset: start, reason: "invalid UTF-8 continuation") }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        let minimum: UInt32 = extra == 1 ? 0x80 : extra == 2 ? 0x800 : 0x10000
        guard value >= minimum, let scalar = Unicode.Scalar(value) else {
            throw .invalidValue(offset: start, reason: "overlong or invalid UTF-8 scalar")
        }
        return scalar
    }

    /// `count` scalars from `reader` in a buffer written in place: ASCII runs widened in one
    /// loop each, other scalars decoded one by one (no zero fill first).
    /// - Complexity: O(count).
    private static func decodedArray(_ count: Int, from reader: inout ByteReader) throws(BinaryDecodingError) -> ContiguousArray<Unicode.Scalar> {
        var failure: BinaryDecodingError?
        let scalars = ContiguousArray<Unicode.Scalar>(unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            while initialized < count {
                let run = reader.readASCIIRun(limit: count - initialized)
                run.withUnsafeBufferPointer { bytes in
                    let target = base + initialized
                    for i in 0 ..< bytes.count { (target + i).initialize(to: Unicode.Scalar(bytes[i])) }
                }
                initialized += run.count
                guard initialized < count else { return }
                do throws(BinaryDecodingError) {
                    (base + initialized).initialize(to: try decode(from: &reader))
                    initialized += 1
                } catch {
                    failure = error
                    return
                }
            }
        }
        if let failure { throw failure }
        return scalars
    }

    /// Text: ASCII runs widened in bulk, other scalars decoded one by one (``decodedArray(_:from:)``).
    /// - Complexity: O(count).
    public static func decode(_ count: Int, from reader: inout ByteReader, into elements: inout ContiguousArray<Unicode.Scalar>)
        throws(BinaryDecodingError) {
        // Every scalar takes a byte at least, which also bounds the buffer made for them.
        guard count <= reader.remaining else { throw .truncated(offset: reader.offset + reader.remaining) }
        let scalars = try decodedArray(count, from: &reader)
        if elements.isEmpty { elements = scalars } else { elements.append(contentsOf: scalars) }
    }
}
