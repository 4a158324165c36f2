import CZlib

/// Raw deflate (RFC 1951) through the system's zlib: the text of sequence states. Its
/// entropy-coded literals and copies take about half the bytes of ``LZCodec`` on prose (the
/// automerge-paper trace's text: 96,566 → 49 KB), and it inflates as fast.
///
/// The decoder is given the exact output size, checked against its input by the caller, and
/// never produces more: a stream that ends early, runs past the size or is malformed throws.
enum DeflateCodec {
    /// Level 4: on the automerge-paper trace's text (182,315 bytes) it takes 2.6 ms for 52.3 KB,
    /// where zlib's default (6) takes 5.8 ms for 49.6 KB and level 1 1.9 ms for 61.6 KB.
    static let level: Int32 = 4
    /// A raw stream: no zlib header or checksum (the state around it is checked as it loads).
    static let windowBits: Int32 = -15

    /// `input` as a raw deflate stream, or nil when zlib cannot start (out of memory).
    /// - Complexity: O(n).
    static func compress(_ input: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        let status = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }

    /// Inflates exactly `count` bytes from the stream at `reader`, and moves `reader` past the
    /// stream's end.
    /// - Throws: ``BinaryDecodingError`` when the stream is malformed, ends before `count`
    ///   bytes, or would produce more.
    /// - Complexity: O(count + input).
    static func decompress(count: Int, from reader: inout ByteReader) throws(BinaryDecodingError) -> [UInt8] {
        let start = reader.offset
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .invalidValue(offset: start, reason: "deflate: zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var peek = reader
        let input = try peek.readBytes(reader.remaining)
        var status = Z_OK
        let output = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            input.withUnsafeBufferPointer { source in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = buffer.baseAddress
                stream.avail_out = uInt(buffer.count)
                status = inflate(&stream, Z_FINISH)
            }
            initialized = Int(stream.total_out)
        }
        switch status {
        case Z_STREAM_END where output.count == count:
            _ = try reader.readBytes(Int(stream.total_in))
            return output
        case Z_STREAM_END:
            throw .invalidValue(offset: start, reason: "deflate: stream shorter than its stated size")
        case Z_BUF_ERROR where stream.avail_out == 0, Z_OK where stream.avail_out == 0:
            throw .invalidValue(offset: start, reason: "deflate: stream longer than its stated size")
        case Z_BUF_ERROR, Z_OK:
            throw .truncated(offset: reader.offset + Int(stream.total_in))
        default:
            throw .invalidValue(offset: start + Int(stream.total_in), reason: "malformed deflate stream")
        }
    }
}
