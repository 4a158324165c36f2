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

    /// The columns of one section, written after a byte of their modes: bit `i` set when
    /// column `i` is stored as runs (see ``writeRuns(_:into:)``), clear when one varint per
    /// value; each column takes whichever is smaller, except those `plain` has a bit set for.
    /// At most eight columns.
    /// - Complexity: O(values).
    static func writeColumns(_ columns: [[UInt64]], plain: UInt8 = 0, into writer: inout ByteWriter) {
        var modes: UInt8 = 0
        var encoded: [[UInt8]] = []
        for (index, values) in columns.enumerated() {
            var runs = ByteWriter()
            writeRuns(values, into: &runs)
            if plain & (1 << index) == 0, runs.bytes.count < values.reduce(0, { $0 + varintSize($1) }) {
                modes |= 1 << index
                encoded.append(runs.bytes)
            } else {
                var plain = ByteWriter()
                for value in values { plain.write(varint: value) }
                encoded.append(plain.bytes)
            }
        }
        writer.write(byte: modes)
        for bytes in encoded { writer.write(bytes: bytes) }
    }

    /// Reads the modes byte of a section of `columns` columns; a bit set past them is malformed.
    static func readModes(columns: Int, from reader: inout ByteReader) throws(BinaryDecodingError) -> UInt8 {
        let start = reader.offset
        let modes = try reader.readByte()
        guard Int(modes) >> columns == 0 else { throw .invalidValue(offset: start, reason: "unknown column mode") }
        return modes
    }

    /// Reads column `index` of `count` values of a section whose modes byte is `modes`;
    /// `count` must already be bounded by the caller.
    static func readColumn(_ index: Int, of modes: UInt8, count: Int, from reader: inout ByteReader)
        throws(BinaryDecodingError) -> [UInt64] {
        if modes & (1 << index) != 0 { return try readRuns(count: count, from: &reader) }
        var values: [UInt64] = []
        values.reserveCapacity(min(count, reader.remaining))
        for _ in 0 ..< count { values.append(try reader.readVarint()) }
        return values
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

/// Reads one column value by value from where it starts, so that a section's columns can be
/// read in step without copying each into an array (a conversation loads thousands of small
/// message bodies). Creating it checks the whole column and moves the section's reader past it.
struct ColumnCursor {
    private var reader: ByteReader
    private let isRuns: Bool
    private var value: UInt64 = 0
    private var leftInRun: UInt64 = 0

    /// The cursor over column `index` of `count` values of a section whose modes byte is
    /// `modes`, starting where `reader` is; `reader` ends past the column.
    /// - Complexity: O(count) to check the column's runs, or O(bytes) to find the end of plain
    ///   values (checked as they are read).
    init(_ index: Int, of modes: UInt8, count: Int, skipping reader: inout ByteReader) throws(BinaryDecodingError) {
        self.reader = reader
        isRuns = modes & (1 << index) != 0
        guard isRuns else {
            // The values' form is checked as `next()` reads them.
            try reader.skipVarints(count)
            return
        }
        var total = 0
        while total < count {
            let start = reader.offset
            _ = try reader.readVarint()
            let run = try reader.readVarint()
            guard run > 0, run <= UInt64(count - total) else { throw .invalidValue(offset: start, reason: "bad run length") }
            total += Int(run)
        }
    }

    /// The next value; call at most `count` times (the column's runs were checked when the
    /// cursor was made; a plain value's form is checked here).
    mutating func next() throws(BinaryDecodingError) -> UInt64 {
        guard isRuns else { return try reader.readVarint() }
        if leftInRun == 0 {
            value = try reader.readVarint()
            leftInRun = try reader.readVarint()
        }
        leftInRun -= 1
        return value
    }
}
