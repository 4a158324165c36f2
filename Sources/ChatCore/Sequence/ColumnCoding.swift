/// Columns of integers as the sequence state format (version 2) stores them: a column that
/// repeats (replica numbers, flags, kinds) as (value, run length) pairs, and counters as
/// zigzag-coded differences from the value they are expected to have, which is usually 0.
enum ColumnCoding {
    /// Writes `values` as (value, run length) pairs.
    /// - Complexity: O(values).
    static func writeRuns(_ values: some Sequence<UInt64>, into writer: inout ByteWriter) {
        var current: UInt64?
        var run: UInt64 = 0
        for value in values {
            if value == current {
                run += 1
                continue
            }
            if let current {
                writer.write(varint: current)
                writer.write(varint: run)
            }
            (current, run) = (value, 1)
        }
        if let current {
            writer.write(varint: current)
            writer.write(varint: run)
        }
    }

    /// Reads `count` values written by ``writeRuns(_:into:)``. A run of zero, or runs adding up
    /// past `count`, are malformed; `count` must already be bounded by the caller.
    /// - Complexity: O(count).
    static func readRuns(count: Int, from reader: inout ByteReader) throws(BinaryDecodingError) -> [UInt64] {
        var values: [UInt64] = []
        values.reserveCapacity(count)
        while values.count < count {
            let start = reader.offset
            let value = try reader.readVarint()
            let run = try reader.readVarint()
            guard run > 0, run <= UInt64(count - values.count) else {
                throw .invalidValue(offset: start, reason: "bad run length")
            }
            values.append(contentsOf: repeatElement(value, count: Int(run)))
        }
        return values
    }

    /// Writes `values` as a column: a mode byte, then the values one varint each (mode 0) or as
    /// runs (mode 1, see ``writeRuns(_:into:)``), whichever is smaller.
    /// - Complexity: O(values).
    static func writeColumn(_ values: [UInt64], into writer: inout ByteWriter) {
        var runs = ByteWriter()
        writeRuns(values, into: &runs)
        let plainSize = values.reduce(0) { $0 + varintSize($1) }
        if runs.bytes.count < plainSize {
            writer.write(byte: 1)
            writer.write(bytes: runs.bytes)
        } else {
            writer.write(byte: 0)
            for value in values { writer.write(varint: value) }
        }
    }

    /// Reads `count` values written by ``writeColumn(_:into:)``; `count` must already be
    /// bounded by the caller.
    static func readColumn(count: Int, from reader: inout ByteReader) throws(BinaryDecodingError) -> [UInt64] {
        let start = reader.offset
        switch try reader.readByte() {
        case 0:
            var values: [UInt64] = []
            values.reserveCapacity(min(count, reader.remaining))
            for _ in 0 ..< count { values.append(try reader.readVarint()) }
            return values
        case 1:
            return try readRuns(count: count, from: &reader)
        default:
            throw .invalidValue(offset: start, reason: "unknown column mode")
        }
    }

    /// The bytes of `value` as a varint.
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        max(1, (64 - value.leadingZeroBitCount + 6) / 7)
    }

    /// `value` with its sign folded into the lowest bit (0, -1, 1, -2, … → 0, 1, 2, 3, …).
    @inline(__always)
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inline(__always)
    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    /// The 32-bit value `expected + delta`, or nil when it leaves 0 … UInt32.max.
    @inline(__always)
    static func offset(_ expected: UInt32, by delta: Int64) -> UInt32? {
        let (sum, overflow) = Int64(expected).addingReportingOverflow(delta)
        guard !overflow, sum >= 0, sum <= Int64(UInt32.max) else { return nil }
        return UInt32(sum)
    }
}
