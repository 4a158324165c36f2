/// A small LZ77 codec for the text of sequence states: runs of literal bytes and copies of
/// earlier output, each length and distance a varint. About 2× on prose, and decoding is a copy
/// loop.
///
/// ```
/// tokens: literal count L (possibly 0), then L bytes; then, unless the output is complete, a
///         copy: length M (4 … 1,024) and distance D (1 … bytes produced), M bytes from D
///         back; and again, ending with the literals that complete the output
/// ```
/// The decoder is given the exact output size, checked against its input by the caller, and
/// never produces more; every count is checked before it is used.
enum LZCodec {
    /// The shortest copy worth a token.
    static let minimumMatch = 4
    /// How far back a copy may reach (the hash table's window).
    static let window = 1 << 20
    /// The most bytes a copy may produce: keeps the output within a fixed multiple of the
    /// input (a copy token takes at least two bytes).
    static let maximumMatch = 1 << 10

    /// `input` compressed. Greedy: at each position the last earlier occurrence of its four
    /// bytes (a hash table of 2¹⁶ slots) is extended as far as it matches.
    /// - Complexity: O(n) expected, O(n · maximumMatch) at worst.
    static func compress(_ input: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(capacity: input.count / 2 + 16)
        var table = [Int32](repeating: -1, count: 1 << 16)
        var literalStart = 0
        var position = 0
        input.withUnsafeBufferPointer { bytes in
            @inline(__always) func hash(_ at: Int) -> Int {
                let word = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
                return Int((word &* 2_654_435_761) >> 16)
            }
            while position + minimumMatch <= bytes.count {
                let slot = hash(position)
                let candidate = Int(table[slot])
                table[slot] = Int32(position)
                guard candidate >= 0, position - candidate <= window else {
                    position += 1
                    continue
                }
                var length = 0
                while length < maximumMatch, position + length < bytes.count, bytes[candidate + length] == bytes[position + length] {
                    length += 1
                }
                guard length >= minimumMatch else {
                    position += 1
                    continue
                }
                writer.write(varint: UInt64(position - literalStart))
                writer.write(bytes: bytes[literalStart ..< position])
                writer.write(varint: UInt64(length))
                writer.write(varint: UInt64(position - candidate))
                for skipped in position + 1 ..< min(position + length, bytes.count - minimumMatch + 1) {
                    table[hash(skipped)] = Int32(skipped)
                }
                position += length
                literalStart = position
            }
            writer.write(varint: UInt64(bytes.count - literalStart))
            writer.write(bytes: bytes[literalStart...])
        }
        return writer.bytes
    }

    /// Decompresses exactly `count` bytes from `reader`. Malformed tokens (a count past the
    /// output or the input, a distance past what was produced, a short copy) throw.
    /// - Complexity: O(count + input): literals and copies that do not overlap are block copies.
    static func decompress(count: Int, from reader: inout ByteReader) throws(BinaryDecodingError) -> [UInt8] {
        guard count > 0 else {
            _ = try reader.readCount(limit: 0) // the one token: no literals
            return []
        }
        var failure: BinaryDecodingError?
        let output = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            var produced = 0
            do throws(BinaryDecodingError) {
                while true {
                    let start = reader.offset
                    let literals = try reader.readCount(limit: min(count - produced, reader.remaining))
                    try reader.readBytes(literals).withUnsafeBufferPointer { source in
                        if let from = source.baseAddress { (base + produced).initialize(from: from, count: literals) }
                    }
                    produced += literals
                    if produced == count { break }
                    let length = try reader.readCount(limit: min(count - produced, maximumMatch))
                    let distance = try reader.readCount(limit: produced)
                    guard length >= minimumMatch, distance > 0 else { throw .invalidValue(offset: start, reason: "bad copy") }
                    if distance >= length {
                        (base + produced).initialize(from: base + produced - distance, count: length)
                    } else {
                        for index in produced ..< produced + length { (base + index).initialize(to: base[index - distance]) }
                    }
                    produced += length
                }
            } catch {
                failure = error
            }
            initialized = produced
        }
        if let failure { throw failure }
        return output
    }
}
