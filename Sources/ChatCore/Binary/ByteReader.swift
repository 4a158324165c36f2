/// Why bytes could not be decoded. Decoders never trap on bad input; they throw this.
public enum BinaryDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The input ended inside a value.
    case truncated(offset: Int)
    /// A varint was longer than its type allows or not in canonical form.
    case malformedVarint(offset: Int)
    /// A value is outside what the format allows.
    case invalidValue(offset: Int, reason: String)

    /// A stable, machine-readable reason code.
    public var code: String {
        switch self {
        case .truncated: "truncated"
        case .malformedVarint: "malformed_varint"
        case .invalidValue: "invalid_value"
        }
    }

    public var description: String {
        switch self {
        case .truncated(let offset): "input ends early at byte \(offset)"
        case .malformedVarint(let offset): "malformed varint at byte \(offset)"
        case .invalidValue(let offset, let reason): "invalid value at byte \(offset): \(reason)"
        }
    }
}

/// Reads canonical binary values from untrusted bytes. Every read checks bounds first.
public struct ByteReader: Sendable {
    @usableFromInline let bytes: [UInt8]
    /// ``offset``, stored: the hot reads are inlined into other modules' decoders, which then
    /// keep the input alive once rather than retain and release it around every call.
    @usableFromInline var position: Int
    /// The offset of the next byte to read.
    public var offset: Int { position }

    /// Creates a reader over `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
    }

    /// Bytes not yet read.
    @inlinable
    public var remaining: Int { bytes.count - position }

    /// True when every byte was read.
    @inlinable
    public var isAtEnd: Bool { position == bytes.count }

    /// Reads the longest run of ASCII bytes (below 0x80) of at most `limit` bytes, which may be
    /// empty.
    /// - Complexity: O(run), eight bytes per step.
    public mutating func readASCIIRun(limit: Int) -> ArraySlice<UInt8> {
        let start = position
        let end = start + min(max(0, limit), remaining)
        let stop = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return start }
            var stop = start
            // A word at a time while none of its bytes has the high bit set.
            while stop + 8 <= end, UnsafeRawPointer(base + stop).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                stop += 8
            }
            while stop < end, base[stop] < 0x80 { stop += 1 }
            return stop
        }
        position = stop
        return bytes[start ..< stop]
    }

    /// Moves past `count` varints without decoding them: a varint ends at its first byte below
    /// 0x80. Their form (length, canonical encoding) is checked when they are read.
    /// - Throws: ``BinaryDecodingError/truncated(offset:)`` when fewer than `count` end here.
    /// - Complexity: O(bytes), one comparison per byte.
    public mutating func skipVarints(_ count: Int) throws(BinaryDecodingError) {
        guard count > 0 else { return }
        let start = position
        let end: Int? = bytes.withUnsafeBufferPointer { buffer in
            var left = count
            for at in start ..< buffer.count where buffer[at] < 0x80 {
                left -= 1
                if left == 0 { return at + 1 }
            }
            return nil
        }
        guard let end else { throw .truncated(offset: bytes.count) }
        position = end
    }

    /// Reads one byte.
    @inlinable
    public mutating func readByte() throws(BinaryDecodingError) -> UInt8 {
        guard position < bytes.count else { throw .truncated(offset: position) }
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads `count` raw bytes; `count` is checked against what remains before allocating.
    public mutating func readBytes(_ count: Int) throws(BinaryDecodingError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw .truncated(offset: position) }
        defer { position += count }
        return bytes[position ..< position + count]
    }

    /// The bytes read since `start` (an earlier ``offset``), copied.
    public func bytes(from start: Int) -> [UInt8] {
        Array(bytes[min(max(0, start), position) ..< position])
    }

    /// Reads a replica id (32 bytes) as four big-endian words, straight from the input: no
    /// slice of it is made (a conversation snapshot reads one per message and list element).
    public mutating func readReplicaID() throws(BinaryDecodingError) -> ReplicaID {
        guard remaining >= ReplicaID.byteCount else { throw .truncated(offset: position) }
        let start = position
        position += ReplicaID.byteCount
        return bytes.withUnsafeBufferPointer { buffer in
            ReplicaID(words: ReplicaID.words(of: UnsafeBufferPointer(rebasing: buffer[start ..< start + ReplicaID.byteCount])))
        }
    }

    /// Reads a canonical unsigned LEB128 varint of at most 64 bits.
    @inlinable
    public mutating func readVarint() throws(BinaryDecodingError) -> UInt64 {
        // One byte: most lengths, deltas and column values.
        if position < bytes.count, bytes[position] < 0x80 {
            defer { position += 1 }
            return UInt64(bytes[position])
        }
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw .truncated(offset: position) }
            let byte = bytes[position]
            position += 1
            if shift == 63, byte > 1 { throw .malformedVarint(offset: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0, shift > 0 { throw .malformedVarint(offset: start) }
                return result
            }
            shift += 7
            if shift > 63 { throw .malformedVarint(offset: start) }
        }
    }

    /// Reads a varint that must fit in 32 bits.
    @inlinable
    public mutating func readVarint32() throws(BinaryDecodingError) -> UInt32 {
        let start = position
        let value = try readVarint()
        guard value <= UInt64(UInt32.max) else { throw .invalidValue(offset: start, reason: "exceeds 32 bits") }
        return UInt32(value)
    }

    /// Reads a varint used as a count or length, bounded by `limit`.
    @inlinable
    public mutating func readCount(limit: Int) throws(BinaryDecodingError) -> Int {
        let start = position
        let value = try readVarint()
        guard value <= UInt64(limit) else { throw .invalidValue(offset: start, reason: "count \(value) exceeds \(limit)") }
        return Int(value)
    }

    /// Reads eight big-endian bytes.
    public mutating func readBigEndianUInt64() throws(BinaryDecodingError) -> UInt64 {
        let raw = try readBytes(8)
        return raw.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
