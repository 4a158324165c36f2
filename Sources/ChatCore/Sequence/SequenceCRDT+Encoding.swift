/// The binary state format of a sequence (version 4, text first, columnar).
///
/// ```
/// "SQ" 0x04 flags (bit 0: history kept)
/// replicas:  count, then 32 bytes each
/// text:      the visible element count, then a content section of the visible elements in
///            document order
/// deferred:  its byte length, then:
///   spans:   count n; their lengths in document order (one varint each); a modes byte; then
///            columns in document order: replica numbers; first counters as zigzag differences
///            from the end of the span before; flags (bit 0 deleted; bits 1–2 origin-left: 0
///            none, 1 the previous element, 2 explicit; bits 3–4 origin-right: 0 none, 1 the
///            next span's first element, 2 explicit); the explicit origins' replica numbers and
///            their counters as zigzag differences from their span's first counter (in span
///            order, left before right)
///   deleted: a content section of the deleted elements in document order
///   history: count m; a modes byte; then columns in application order: counts; replica
///            numbers; counters as zigzag differences from the end of the replica's entry
///            before; kinds (0 insert, 1 delete); the deletes' target replica numbers and target
///            counters as zigzag differences from the previous delete's
/// ```
/// A content section is a mode byte, then the elements' bytes as they are (0) or compressed:
/// their byte count, then ``LZCodec`` tokens (1, the first builds of version 3) or a raw deflate
/// stream (2, ``DeflateCodec``). Bit `i` of a modes byte says how column `i` is stored: one
/// varint per value (clear) or (value, run length) pairs (set), whichever is smaller
/// (``ColumnCoding``). Span lengths take at least a byte per span, and the writer keeps the
/// history's count m within the bytes that follow it (its counts are written one varint each
/// when runs would take fewer bytes than m), which bounds what a short input can make the
/// decoder allocate.
///
/// The visible text comes first so that a load can show it without the rest
/// (``SequenceCRDT/init(decodingTextFirst:replica:)``); the deferred sections' length lets it
/// skip them. Sequences without history (message bodies) are written in version 1: the same
/// fields span by span (spans, then every span's elements as they are, then per replica the
/// applied ranges: range count, then (start, length) pairs), which loads faster for their one
/// or two spans (and ``SequenceStateChecker`` checks without building). Versions 1 to 3 are
/// still read: versions 1 and 2 wrote the history entry by entry or its counts one varint each
/// before the columns; version 3 wrote the spans after the replicas, then one content section
/// of every span's elements in span order, then the history. Loading rebuilds the B-tree
/// directly from the spans, with no re-integration.
enum SequenceStateFormat {
    static let magic: [UInt8] = [0x53, 0x51]
    static let version: UInt8 = 4
    static let maxReplicas = 1 << 20
    static let maxSpans = 1 << 28
    /// The content is compressed only when it stays within this many times its compressed
    /// size, which bounds what a short input can make the decoder allocate.
    static let maxContentExpansion = 16

    /// How a content section (versions 3 and 4) stores the elements' bytes (its mode byte).
    enum ContentCoding: UInt8 {
        /// As they are.
        case raw = 0
        /// Their byte count, then ``LZCodec`` tokens (written by the first builds of version 3;
        /// still read).
        case lz = 1
        /// Their byte count, then a raw deflate stream (``DeflateCodec``).
        case deflate = 2
    }

    /// Writes a content section (versions 3 and 4): a mode byte, then the elements' bytes as they
    /// are, or their byte count and the bytes compressed by `coding` when that is smaller and
    /// within ``maxContentExpansion``.
    /// - Complexity: O(content).
    static func writeContent(_ raw: [UInt8], coding: ContentCoding = .deflate, into writer: inout ByteWriter) {
        let packed: [UInt8]? = switch coding {
        case .raw: nil
        case .lz: LZCodec.compress(raw)
        case .deflate: DeflateCodec.compress(raw)
        }
        guard let packed, packed.count + ColumnCoding.varintSize(UInt64(raw.count)) < raw.count,
              packed.count * maxContentExpansion >= raw.count else {
            writer.write(byte: ContentCoding.raw.rawValue)
            return writer.write(bytes: raw)
        }
        writer.write(byte: coding.rawValue)
        writer.write(varint: UInt64(raw.count))
        writer.write(bytes: packed)
    }

    /// Reads a content section's mode byte (versions 3 and 4) and, when compressed, its bytes (nil: the
    /// elements follow as they are).
    static func readPackedContent(from reader: inout ByteReader) throws(BinaryDecodingError) -> [UInt8]? {
        let start = reader.offset
        guard let coding = ContentCoding(rawValue: try reader.readByte()) else {
            throw .invalidValue(offset: start, reason: "unknown content mode")
        }
        guard coding != .raw else { return nil }
        let count = try reader.readCount(limit: reader.remaining * maxContentExpansion)
        return coding == .lz ? try LZCodec.decompress(count: count, from: &reader)
            : try DeflateCodec.decompress(count: count, from: &reader)
    }
}

/// One span as stored, before its origins are resolved and its replica numbers checked.
private struct StoredSpan {
    var replica: UInt32
    var counter: UInt32
    var length: UInt32
    var flags: UInt8
    var explicitLeft: LocalID?
    var explicitRight: LocalID?

    var leftKind: UInt8 { (flags >> 1) & 3 }
    var rightKind: UInt8 { (flags >> 3) & 3 }
}

/// Checks stored spans one by one and resolves their origins: replica numbers in range,
/// lengths that fit, known flags, no two spans sharing an id.
private struct SpanBuilder {
    private(set) var spans = ContiguousArray<Span>()
    let replicaCount: Int
    /// A span whose origin-right is "the next span's first element" is resolved when the next
    /// span comes.
    private var previousWantsNext = false

    init(count: Int, replicaCount: Int) {
        self.replicaCount = replicaCount
        spans.reserveCapacity(count)
    }

    private func replicaNumber(_ value: UInt32) throws(SequenceError) -> UInt32 {
        guard value < UInt32(replicaCount) else { throw .malformedState("replica number out of range") }
        return value
    }

    mutating func append(_ entry: StoredSpan) throws(SequenceError) {
        let replica = try replicaNumber(entry.replica)
        let (counter, length) = (entry.counter, entry.length)
        // `counter` is untrusted: check it before subtracting (ids end below UInt32.max, which
        // `LocalID.none` uses).
        guard length > 0, counter < UInt32.max, length <= UInt32.max - 1 - counter else {
            throw .malformedState("bad span length")
        }
        guard entry.flags < 32, entry.leftKind != 3, entry.rightKind != 3 else { throw .malformedState("bad span flags") }
        var span = Span(id: LocalID(replica: replica, counter: counter), length: length,
                        originLeft: .none, originRight: .none, contentStart: 0, isDeleted: entry.flags & 1 == 1)
        switch entry.leftKind {
        case 1:
            guard let previous = spans.last else { throw .malformedState("no previous element") }
            span.originLeft = previous.lastID
        case 2:
            guard let left = entry.explicitLeft else { throw .malformedState("missing origin") }
            span.originLeft = LocalID(replica: try replicaNumber(left.replica), counter: left.counter)
        default: break
        }
        if previousWantsNext { spans[spans.count - 1].originRight = span.id }
        previousWantsNext = entry.rightKind == 1
        if entry.rightKind == 2 {
            guard let right = entry.explicitRight else { throw .malformedState("missing origin") }
            span.originRight = LocalID(replica: try replicaNumber(right.replica), counter: right.counter)
        }
        spans.append(span)
    }

    /// The spans, once no two share an id.
    /// - Complexity: O(n²) for up to eight spans (most message bodies), else O(n log n).
    func finish() throws(SequenceError) -> ContiguousArray<Span> {
        guard !previousWantsNext else { throw .malformedState("no next element") }
        if spans.count <= 8 {
            for i in spans.indices {
                for j in spans.indices where j > i && spans[i].id.replica == spans[j].id.replica {
                    let (a, b) = (spans[i], spans[j])
                    if a.id.counter < b.id.counter + b.length && b.id.counter < a.id.counter + a.length {
                        throw .malformedState("two spans share an id")
                    }
                }
            }
            return spans
        }
        // One bit per id, replica after replica, up to each replica's highest span end; a span
        // whose bits are already set shares an id. When the ids are sparse (the bits would
        // outnumber 64 per span), sort instead: the spans, each at least a byte of input, bound
        // the bits (not their lengths, which the content has not confirmed yet).
        var ends = [UInt64](repeating: 0, count: replicaCount)
        for span in spans {
            ends[Int(span.id.replica)] = max(ends[Int(span.id.replica)], UInt64(span.id.counter) + UInt64(span.length))
        }
        let bits = ends.reduce(0, +)
        guard bits <= 64 * UInt64(spans.count) + 65_536 else { return try Self.checkedBySorting(spans) }
        var bases = [UInt64](repeating: 0, count: replicaCount)
        for replica in 1 ..< max(1, replicaCount) { bases[replica] = bases[replica - 1] + ends[replica - 1] }
        var words = [UInt64](repeating: 0, count: Int((bits + 63) / 64))
        for span in spans {
            let start = bases[Int(span.id.replica)] + UInt64(span.id.counter)
            guard Self.claim(start ..< start + UInt64(span.length), in: &words) else {
                throw .malformedState("two spans share an id")
            }
        }
        return spans
    }

    /// Sets the bits `range` of `words`; false when any was set already (the state is then
    /// refused, so what was set by then does not matter).
    /// - Complexity: O(range / 64).
    private static func claim(_ range: Range<UInt64>, in words: inout [UInt64]) -> Bool {
        var word = Int(range.lowerBound / 64)
        var bit = range.lowerBound % 64
        var left = UInt64(range.count)
        while left > 0 {
            let take = min(left, 64 - bit)
            let mask = (take == 64 ? UInt64.max : (1 << take) - 1) << bit
            guard words[word] & mask == 0 else { return false }
            words[word] |= mask
            left -= take
            (word, bit) = (word + 1, 0)
        }
        return true
    }

    /// The spans, once no two share an id: ranges of one replica are disjoint exactly when, with
    /// their starts and their ends each sorted, every end is at most the next start.
    /// - Complexity: O(n log n).
    private static func checkedBySorting(_ spans: ContiguousArray<Span>) throws(SequenceError) -> ContiguousArray<Span> {
        var starts = spans.map { UInt64($0.id.replica) << 32 | UInt64($0.id.counter) }
        var ends = spans.map { UInt64($0.id.replica) << 32 | UInt64($0.id.counter + $0.length) }
        starts.sort()
        ends.sort()
        for i in 1 ..< starts.count where ends[i - 1] > starts[i] {
            throw .malformedState("two spans share an id")
        }
        return spans
    }
}

extension SequenceCore {
    /// Writes the header and the spans: everything but the elements and the history, in the
    /// order versions 1 to 3 keep (tests write those versions from it).
    /// - Complexity: O(spans).
    func encodeStructure(version: UInt8, into writer: inout ByteWriter) {
        encodeHeader(version: version, into: &writer)
        encodeSpans(into: &writer)
    }

    /// Writes the magic, `version`, the flags and the replica table.
    func encodeHeader(version: UInt8, into writer: inout ByteWriter) {
        writer.write(bytes: SequenceStateFormat.magic)
        writer.write(byte: version)
        writer.write(byte: keepsHistory ? 1 : 0)
        // A sequence that has met no replica yet (the local one is interned lazily) still names
        // its local replica, so every state has at least one.
        if replicas.count == 0 {
            writer.write(varint: UInt64(1))
            writer.write(bytes: localReplicaID.bytes)
        } else {
            writer.write(varint: UInt64(replicas.count))
            for entry in replicas.entries { writer.write(bytes: entry.id.bytes) }
        }
    }

    /// Writes the spans: in columns, or span by span (version 1) without history.
    /// - Complexity: O(spans).
    func encodeSpans(into writer: inout ByteWriter) {
        var spans: [Span] = []
        tree.forEachRun { spans.append($0) }
        guard keepsHistory else { return Self.encodeSpansV1(spans, into: &writer) }
        writer.write(varint: UInt64(spans.count))
        for span in spans { writer.write(varint: span.length) }
        var end: UInt32 = 0
        let counterDeltas = spans.map { span in
            defer { end = span.id.counter &+ span.length }
            return ColumnCoding.zigzag(Int64(span.id.counter) - Int64(end))
        }
        let flags = spans.indices.map { Self.storedFlags(of: spans, at: $0) }
        var origins: [(origin: LocalID, of: Span)] = []
        for (span, flag) in zip(spans, flags) {
            if (flag >> 1) & 3 == 2 { origins.append((span.originLeft, span)) }
            if (flag >> 3) & 3 == 2 { origins.append((span.originRight, span)) }
        }
        ColumnCoding.writeColumns([
            spans.map { UInt64($0.id.replica) },
            counterDeltas,
            flags.map { UInt64($0) },
            origins.map { UInt64($0.origin.replica) },
            origins.map { ColumnCoding.zigzag(Int64($0.origin.counter) - Int64($0.of.id.counter)) },
        ], into: &writer)
    }

    /// The flags byte of `spans[i]`, the same in both versions: bit 0 deleted; bits 1–2
    /// origin-left (0 none, 1 the previous element, 2 explicit); bits 3–4 origin-right (0 none,
    /// 1 the next span's first element, 2 explicit).
    private static func storedFlags(of spans: [Span], at i: Int) -> UInt8 {
        let span = spans[i]
        let previous = i > 0 ? spans[i - 1].lastID : LocalID.none
        let next = i + 1 < spans.count ? spans[i + 1].id : LocalID.none
        let leftKind: UInt8 = span.originLeft.isNone ? 0 : span.originLeft == previous ? 1 : 2
        let rightKind: UInt8 = span.originRight.isNone ? 0 : span.originRight == next ? 1 : 2
        return (span.isDeleted ? 1 : 0) | leftKind << 1 | rightKind << 3
    }

    /// Version 1: each span's fields together, explicit origins inline. Kept for sequences
    /// without history (message bodies: one or two spans each, thousands per conversation),
    /// which load faster from it than from columns and would save only a byte or two.
    private static func encodeSpansV1(_ spans: [Span], into writer: inout ByteWriter) {
        writer.write(varint: UInt64(spans.count))
        for (i, span) in spans.enumerated() {
            writer.write(varint: span.id.replica)
            writer.write(varint: span.id.counter)
            writer.write(varint: span.length)
            let flags = storedFlags(of: spans, at: i)
            writer.write(byte: flags)
            if (flags >> 1) & 3 == 2 {
                writer.write(varint: span.originLeft.replica)
                writer.write(varint: span.originLeft.counter)
            }
            if (flags >> 3) & 3 == 2 {
                writer.write(varint: span.originRight.replica)
                writer.write(varint: span.originRight.counter)
            }
        }
    }

    /// - Complexity: O(history entries), or O(applied ranges) without history.
    func encodeHistory(into writer: inout ByteWriter) {
        guard keepsHistory else {
            if replicas.count == 0 { writer.write(varint: UInt64(0)) } // the named local replica applied nothing
            for entry in replicas.entries {
                writer.write(varint: UInt64(entry.seen.ranges.count))
                for range in entry.seen.ranges {
                    writer.write(varint: range.lowerBound)
                    writer.write(varint: UInt32(range.count))
                }
            }
            return
        }
        writer.write(varint: UInt64(log.count))
        var ends = [UInt32](repeating: 0, count: replicas.count)
        let counterDeltas = log.map { entry in
            let replica = Int(entry.id.replica)
            defer { ends[replica] = entry.id.counter &+ entry.count }
            return ColumnCoding.zigzag(Int64(entry.id.counter) - Int64(ends[replica]))
        }
        let deletes = log.filter { !$0.isInsert }
        var previousTarget: UInt32 = 0
        let targetDeltas = deletes.map { entry in
            defer { previousTarget = entry.target.counter }
            return ColumnCoding.zigzag(Int64(entry.target.counter) - Int64(previousTarget))
        }
        let columns = [
            log.map { UInt64($0.count) },
            log.map { UInt64($0.id.replica) },
            counterDeltas,
            log.map { $0.isInsert ? 0 : 1 },
            deletes.map { UInt64($0.target.replica) },
            targetDeltas,
        ]
        var section = ByteWriter(capacity: log.count * 2)
        ColumnCoding.writeColumns(columns, into: &section)
        if section.bytes.count < log.count {
            // The decoder bounds the entry count by the bytes that follow it; counts one varint
            // each (at least a byte per entry) keep within it.
            section = ByteWriter(capacity: log.count * 2)
            ColumnCoding.writeColumns(columns, plain: 1, into: &section)
        }
        writer.write(bytes: section.bytes)
    }

    /// Reads the header (any version): the magic, version, flags and replica table. Returns a
    /// core with the replicas interned in their stored order (stored replica numbers are the
    /// core's numbers), and the version the rest is written in.
    static func decodeHeader(from reader: inout ByteReader, localReplica: ReplicaID?)
        throws(SequenceError) -> (core: SequenceCore, version: UInt8)
    {
        do {
            let magic = try reader.readBytes(2)
            guard magic.first == SequenceStateFormat.magic[0], magic.last == SequenceStateFormat.magic[1] else {
                throw SequenceError.malformedState("not a sequence state")
            }
            let version = try reader.readByte()
            guard (1 ... SequenceStateFormat.version).contains(version) else {
                throw SequenceError.malformedState("unsupported version \(version)")
            }
            let flags = try reader.readByte()
            guard flags <= 1 else { throw SequenceError.malformedState("unknown flags") }
            let replicaCount = try reader.readCount(limit: min(SequenceStateFormat.maxReplicas, reader.remaining / 32))
            guard replicaCount > 0 else { throw SequenceError.malformedState("no replicas") }
            // (The core is not optional here: reading an optional one copies it, a retain of
            // each of its arrays per replica of every message body.)
            let first = try reader.readReplicaID()
            var core = SequenceCore(localReplica: localReplica ?? first, keepsHistory: flags & 1 == 1)
            _ = core.intern(first)
            for _ in 1 ..< replicaCount {
                let replica = try reader.readReplicaID()
                guard core.number(of: replica) == nil else { throw SequenceError.malformedState("duplicate replica ids") }
                _ = core.intern(replica)
            }
            return (core, version)
        } catch {
            throw .malformed(error)
        }
    }

    /// Reads the spans of a state in `version` with `replicaCount` replicas (content offsets
    /// not yet assigned).
    static func decodeSpans(from reader: inout ByteReader, version: UInt8, replicaCount: Int)
        throws(SequenceError) -> ContiguousArray<Span>
    {
        do {
            return version == 1 ? try readSpansV1(from: &reader, replicaCount: replicaCount)
                : try readSpansV2(from: &reader, replicaCount: replicaCount)
        } catch {
            throw .malformed(error)
        }
    }

    /// Version 1: every span's fields together, explicit origins inline.
    /// - Throws: ``BinaryDecodingError`` or ``SequenceError``.
    private static func readSpansV1(from reader: inout ByteReader, replicaCount: Int) throws -> ContiguousArray<Span> {
        let count = try reader.readCount(limit: min(SequenceStateFormat.maxSpans, reader.remaining / 4))
        var spans = SpanBuilder(count: count, replicaCount: replicaCount)
        for _ in 0 ..< count {
            var span = StoredSpan(replica: try reader.readVarint32(), counter: try reader.readVarint32(),
                                  length: try reader.readVarint32(), flags: try reader.readByte())
            if span.leftKind == 2 { span.explicitLeft = LocalID(replica: try reader.readVarint32(), counter: try reader.readVarint32()) }
            if span.rightKind == 2 { span.explicitRight = LocalID(replica: try reader.readVarint32(), counter: try reader.readVarint32()) }
            try spans.append(span)
        }
        return try spans.finish()
    }

    /// Version 2: column by column (see ``SequenceStateFormat``), read in step. Every span costs
    /// at least its length byte, which bounds the count by the input.
    /// - Throws: ``BinaryDecodingError`` or ``SequenceError``.
    private static func readSpansV2(from reader: inout ByteReader, replicaCount: Int) throws -> ContiguousArray<Span> {
        let count = try reader.readCount(limit: min(SequenceStateFormat.maxSpans, reader.remaining))
        var lengths = reader
        for _ in 0 ..< count { _ = try reader.readVarint32() }
        let modes = try ColumnCoding.readModes(columns: 5, from: &reader)
        var replicas = try ColumnCursor(0, of: modes, count: count, skipping: &reader)
        var counterDeltas = try ColumnCursor(1, of: modes, count: count, skipping: &reader)
        var flags = try ColumnCursor(2, of: modes, count: count, skipping: &reader)
        var explicitOrigins = 0
        var flagsAhead = flags
        for _ in 0 ..< count {
            let flag = try flagsAhead.next()
            guard flag < 32 else { throw SequenceError.malformedState("bad span flags") }
            explicitOrigins += (flag >> 1) & 3 == 2 ? 1 : 0
            explicitOrigins += (flag >> 3) & 3 == 2 ? 1 : 0
        }
        var originReplicas = try ColumnCursor(3, of: modes, count: explicitOrigins, skipping: &reader)
        var originDeltas = try ColumnCursor(4, of: modes, count: explicitOrigins, skipping: &reader)
        func origin(of span: StoredSpan) throws(BinaryDecodingError) -> LocalID {
            let replica = try originReplicas.next()
            guard replica <= UInt64(UInt32.max),
                  let counter = ColumnCoding.offset(span.counter, by: ColumnCoding.unzigzag(try originDeltas.next())) else {
                throw .invalidValue(offset: reader.offset, reason: "bad origin")
            }
            return LocalID(replica: UInt32(replica), counter: counter)
        }
        var spans = SpanBuilder(count: count, replicaCount: replicaCount)
        // Each first counter follows the end of the span before (lengths are checked later).
        var end: UInt32 = 0
        for _ in 0 ..< count {
            let replica = try replicas.next()
            let length = try lengths.readVarint32()
            guard replica <= UInt64(UInt32.max),
                  let counter = ColumnCoding.offset(end, by: ColumnCoding.unzigzag(try counterDeltas.next())) else {
                throw SequenceError.malformedState("bad span counter")
            }
            var span = StoredSpan(replica: UInt32(replica), counter: counter, length: length, flags: UInt8(try flags.next()))
            if span.leftKind == 2 { span.explicitLeft = try origin(of: span) }
            if span.rightKind == 2 { span.explicitRight = try origin(of: span) }
            try spans.append(span)
            end = counter &+ length
        }
        return try spans.finish()
    }

    /// Reads the history (in the state's `version`), rebuilds the applied-id sets, and checks
    /// spans against them.
    mutating func decodeHistory(from reader: inout ByteReader, spans: ContiguousArray<Span>, version: UInt8) throws(SequenceError) {
        do {
            guard keepsHistory else {
                for stored in 0 ..< replicas.count {
                    for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 2)) {
                        let start = try reader.readVarint32()
                        let length = try reader.readVarint32()
                        guard length > 0, start < UInt32.max, length <= UInt32.max - 1 - start,
                              replicas.entries[stored].seen.upperBound <= start else {
                            throw SequenceError.malformedState("bad applied range")
                        }
                        replicas.entries[stored].seen.insert(start ..< start + length)
                    }
                }
                guard spans.allSatisfy({ replicas.entries[Int($0.id.replica)].seen.contains($0.id.counter ..< $0.id.counter + $0.length) }) else {
                    throw SequenceError.malformedState("element missing from the applied ranges")
                }
                return
            }
            let entries = version == 1 ? try Self.readHistoryV1(from: &reader)
                : try Self.readHistoryColumns(from: &reader, replicaCount: replicas.count, countsInColumns: version >= 3)
            var inserted = 0
            for entry in entries {
                let (replica, counter, length) = (entry.id.replica, entry.id.counter, entry.count)
                guard replica < UInt32(replicas.count), entry.target.isNone || entry.target.replica < UInt32(replicas.count) else {
                    throw SequenceError.malformedState("replica number out of range")
                }
                guard length > 0, counter < UInt32.max, length <= UInt32.max - 1 - counter else {
                    throw SequenceError.malformedState("bad history entry")
                }
                if entry.isInsert {
                    inserted += Int(length)
                } else {
                    guard entry.target.counter <= UInt32.max - 1 - length else { throw SequenceError.malformedState("bad target") }
                }
                guard replicas.entries[Int(replica)].seen.isDisjoint(with: counter ..< counter + length) else {
                    throw SequenceError.malformedState("history repeats an id")
                }
                replicas.entries[Int(replica)].seen.insert(counter ..< counter + length)
            }
            log = entries
            var elements = 0
            for span in spans {
                elements += Int(span.length)
                guard replicas.entries[Int(span.id.replica)].seen.contains(span.id.counter ..< span.id.counter + span.length) else {
                    throw SequenceError.malformedState("element missing from history")
                }
            }
            guard elements == inserted else { throw SequenceError.malformedState("history and elements disagree") }
        } catch {
            throw .malformed(error)
        }
    }

    /// Version 1: every entry's fields together. A delete's target is never `LocalID.none`.
    private static func readHistoryV1(from reader: inout ByteReader) throws(BinaryDecodingError) -> ContiguousArray<LogEntry> {
        let count = try reader.readCount(limit: reader.remaining / 4)
        var entries = ContiguousArray<LogEntry>()
        entries.reserveCapacity(count)
        for _ in 0 ..< count {
            let id = LocalID(replica: try reader.readVarint32(), counter: try reader.readVarint32())
            let length = try reader.readVarint32()
            let start = reader.offset
            var target = LocalID.none
            switch try reader.readByte() {
            case 0: break
            case 1:
                target = LocalID(replica: try reader.readVarint32(), counter: try reader.readVarint32())
                guard !target.isNone else { throw .invalidValue(offset: start, reason: "bad target") }
            default: throw .invalidValue(offset: start, reason: "bad history kind")
            }
            entries.append(LogEntry(id: id, count: length, target: target))
        }
        return entries
    }

    /// Versions 2 to 4: column by column (see ``SequenceStateFormat``), read in step by
    /// cursors (no array per column); versions 3 and 4 store the counts as the section's first column
    /// (`countsInColumns`), version 2 one varint each before it. The entry count is bounded by
    /// the bytes that follow it (the writer keeps to that).
    /// - Complexity: O(entries).
    private static func readHistoryColumns(from reader: inout ByteReader, replicaCount: Int, countsInColumns: Bool)
        throws(BinaryDecodingError) -> ContiguousArray<LogEntry> {
        let count = try reader.readCount(limit: reader.remaining)
        let first = countsInColumns ? 1 : 0
        var counts: ColumnCursor? = countsInColumns ? nil : try ColumnCursor(0, of: 0, count: count, skipping: &reader)
        let modes = try ColumnCoding.readModes(columns: 5 + first, from: &reader)
        if countsInColumns { counts = try ColumnCursor(0, of: modes, count: count, skipping: &reader) }
        var lengths = counts!
        var replicas = try ColumnCursor(first, of: modes, count: count, skipping: &reader)
        var counterDeltas = try ColumnCursor(first + 1, of: modes, count: count, skipping: &reader)
        var kinds = try ColumnCursor(first + 2, of: modes, count: count, skipping: &reader)
        var deletes = 0
        var kindsAhead = kinds
        for _ in 0 ..< count {
            let kind = try kindsAhead.next()
            guard kind <= 1 else { throw .invalidValue(offset: reader.offset, reason: "bad history kind") }
            deletes += Int(kind)
        }
        var targetReplicas = try ColumnCursor(first + 3, of: modes, count: deletes, skipping: &reader)
        var targetDeltas = try ColumnCursor(first + 4, of: modes, count: deletes, skipping: &reader)
        var entries = ContiguousArray<LogEntry>()
        entries.reserveCapacity(count)
        // Counters follow the end of the same replica's entry before; delete targets follow the
        // previous delete's.
        var ends = [UInt32](repeating: 0, count: replicaCount)
        var previousTarget: UInt32 = 0
        for _ in 0 ..< count {
            let length = try lengths.next()
            let replica = try replicas.next()
            guard length <= UInt64(UInt32.max) else { throw .invalidValue(offset: reader.offset, reason: "bad history count") }
            guard replica < UInt64(replicaCount) else {
                throw .invalidValue(offset: reader.offset, reason: "replica number out of range")
            }
            guard let counter = ColumnCoding.offset(ends[Int(replica)], by: ColumnCoding.unzigzag(try counterDeltas.next())) else {
                throw .invalidValue(offset: reader.offset, reason: "bad history counter")
            }
            ends[Int(replica)] = counter &+ UInt32(length)
            var target = LocalID.none
            if try kinds.next() == 1 {
                let targetReplica = try targetReplicas.next()
                guard targetReplica < UInt64(SequenceStateFormat.maxReplicas),
                      let targetCounter = ColumnCoding.offset(previousTarget, by: ColumnCoding.unzigzag(try targetDeltas.next())) else {
                    throw .invalidValue(offset: reader.offset, reason: "bad target")
                }
                target = LocalID(replica: UInt32(targetReplica), counter: targetCounter)
                previousTarget = targetCounter
            }
            entries.append(LogEntry(id: LocalID(replica: UInt32(replica), counter: counter), count: UInt32(length), target: target))
        }
        return entries
    }
}

extension SequenceCRDT where Element: SequenceElementCodable {
    /// The full state (elements, tombstones, origins, history) in a compact binary form.
    /// - Complexity: O(n).
    public func encodedState() -> [UInt8] {
        var writer = ByteWriter(capacity: content.count * 2 + 64)
        encodeState(into: &writer)
        return writer.bytes
    }

    /// Appends the state to `writer` (self-delimiting, so states can be concatenated).
    public func encodeState(into writer: inout ByteWriter) {
        encodeState(into: &writer, contentCoding: .deflate)
    }

    /// Appends the state with its text compressed by `contentCoding` (tests write the older
    /// modes to check they still load).
    func encodeState(into writer: inout ByteWriter, contentCoding: SequenceStateFormat.ContentCoding) {
        // An untouched text-first load is the state it was read from (not re-encoded).
        if let deferred { return writer.write(bytes: deferred.state) }
        guard core.keepsHistory else {
            core.encodeStructure(version: 1, into: &writer)
            core.tree.forEachRun { span in
                let start = Int(span.contentStart)
                for element in content[start ..< start + Int(span.length)] { element.encode(into: &writer) }
            }
            return core.encodeHistory(into: &writer)
        }
        core.encodeHeader(version: SequenceStateFormat.version, into: &writer)
        var visible = ByteWriter(capacity: count * 2)
        var deleted = ByteWriter(capacity: (content.count - count) * 2)
        core.tree.forEachRun { span in
            let start = Int(span.contentStart)
            for element in content[start ..< start + Int(span.length)] {
                if span.isDeleted { element.encode(into: &deleted) } else { element.encode(into: &visible) }
            }
        }
        writer.write(varint: UInt64(count))
        SequenceStateFormat.writeContent(visible.bytes, coding: contentCoding, into: &writer)
        var deferred = ByteWriter(capacity: deleted.bytes.count + core.log.count * 4 + 64)
        core.encodeSpans(into: &deferred)
        SequenceStateFormat.writeContent(deleted.bytes, coding: contentCoding, into: &deferred)
        core.encodeHistory(into: &deferred)
        writer.write(varint: UInt64(deferred.bytes.count))
        writer.write(bytes: deferred.bytes)
    }

    /// Loads a state produced by ``encodedState()``; local edits are made as `replica` (default:
    /// the replica that saved it). Untrusted input is checked in full: malformed bytes throw.
    /// (``init(decodingTextFirst:replica:)`` reads the visible elements alone and leaves the
    /// rest for later.)
    /// - Complexity: O(n); no operation is re-integrated.
    public init(decoding bytes: [UInt8], replica: ReplicaID? = nil) throws(SequenceError) {
        var reader = ByteReader(bytes)
        try self.init(decoding: &reader, replica: replica)
        guard reader.isAtEnd else { throw .malformedState("trailing bytes") }
    }

    /// Reads one state from `reader` (as written by ``encodeState(into:)``), checked in full.
    public init(decoding reader: inout ByteReader, replica: ReplicaID? = nil) throws(SequenceError) {
        try self.init(reading: &reader, replica: replica, defersAllButText: false)
    }

    /// Reads one state: the header, then in version 4 the visible elements and either the rest
    /// (`defersAllButText` false) or only its length, keeping it for ``completeLoad()``; older
    /// versions are read whole.
    init(reading reader: inout ByteReader, replica: ReplicaID?, defersAllButText: Bool) throws(SequenceError) {
        let start = reader.offset
        let (core, version) = try SequenceCore.decodeHeader(from: &reader, localReplica: replica)
        self.core = core
        guard version >= 4 else {
            try decodeSpansContentAndHistory(from: &reader, version: version)
            return
        }
        let deferredLength: Int
        do {
            let visible = try reader.readCount(limit: reader.remaining * SequenceStateFormat.maxContentExpansion)
            content = try Self.readContent(count: visible, version: version, from: &reader)
            deferredLength = try reader.readCount(limit: reader.remaining)
            // (The limit above was taken before the length's own bytes were read.)
            guard deferredLength <= reader.remaining else { throw BinaryDecodingError.truncated(offset: reader.offset) }
        } catch {
            throw .malformed(error)
        }
        let end = reader.offset + deferredLength
        guard defersAllButText else {
            try decodeDeferredSections(from: &reader, version: version, end: end)
            return
        }
        self.core.tree.refusesLocalEdits()
        let sections = reader
        deferred = DeferredSections(state: reader.bytes[start ..< end], partial: self) { partial throws(SequenceError) in
            var sequence = partial
            sequence.core.tree = SpanTree()
            var reader = sections
            try sequence.decodeDeferredSections(from: &reader, version: version, end: end)
            return sequence
        }
        _ = try? reader.readBytes(deferredLength) // within the input: the length was bounded by it
    }

    /// Reads the rest of a version 1–3 state after its header: the spans, every span's elements
    /// in span order, and the history.
    private mutating func decodeSpansContentAndHistory(from reader: inout ByteReader, version: UInt8) throws(SequenceError) {
        var spans = try SequenceCore.decodeSpans(from: &reader, version: version, replicaCount: core.replicas.count)
        var total = 0
        for i in spans.indices {
            spans[i].contentStart = UInt32(truncatingIfNeeded: total)
            total += Int(spans[i].length)
        }
        content = try Self.readContent(count: total, version: version, from: &reader)
        try finishLoad(spans, from: &reader, version: version)
    }

    /// Reads the sections of a version 4 state after its visible elements (which `content`
    /// holds): the spans, the deleted elements in document order, and the history, ending at
    /// `end`.
    mutating func decodeDeferredSections(from reader: inout ByteReader, version: UInt8, end: Int) throws(SequenceError) {
        var spans = try SequenceCore.decodeSpans(from: &reader, version: version, replicaCount: core.replicas.count)
        // Visible spans point into the visible elements, deleted ones into those that follow.
        let visible = content.count
        var (visibleOffset, deletedOffset) = (0, visible)
        for i in spans.indices {
            let length = Int(spans[i].length)
            if spans[i].isDeleted {
                spans[i].contentStart = UInt32(truncatingIfNeeded: deletedOffset)
                deletedOffset += length
            } else {
                spans[i].contentStart = UInt32(truncatingIfNeeded: visibleOffset)
                visibleOffset += length
            }
        }
        guard visibleOffset == visible else { throw .malformedState("visible elements and spans disagree") }
        content.append(contentsOf: try Self.readContent(count: deletedOffset - visible, version: version, from: &reader))
        try finishLoad(spans, from: &reader, version: version)
        guard reader.offset == end else { throw .malformedState("deferred sections of the wrong length") }
    }

    /// Reads the history, checks the spans against it and builds the tree and id index.
    private mutating func finishLoad(_ spans: ContiguousArray<Span>, from reader: inout ByteReader, version: UInt8) throws(SequenceError) {
        try core.decodeHistory(from: &reader, spans: spans, version: version)
        core.tree.bulkLoad(spans)
        core.checkInvariants()
    }

    /// `count` elements from the content section at `reader`, as the state's `version` stores
    /// them.
    /// - Complexity: O(content).
    static func readContent(count total: Int, version: UInt8, from reader: inout ByteReader)
        throws(SequenceError) -> ContiguousArray<Element> {
        var content = ContiguousArray<Element>()
        do throws(BinaryDecodingError) {
            if version >= 3, let packed = try SequenceStateFormat.readPackedContent(from: &reader) {
                // Every element takes a byte at least.
                guard total <= packed.count else { throw .invalidValue(offset: reader.offset, reason: "content shorter than its elements") }
                var unpacked = ByteReader(packed)
                try Element.decode(total, from: &unpacked, into: &content)
                guard unpacked.isAtEnd else { throw .invalidValue(offset: reader.offset, reason: "content longer than its elements") }
            } else {
                // Every element takes a byte at least: more than the input holds is truncated.
                guard total <= reader.remaining else { throw .truncated(offset: reader.offset) }
                try Element.decode(total, from: &reader, into: &content)
            }
        } catch {
            throw .malformedState(error.description)
        }
        return content
    }

    /// The visible elements of an encoded state, in order, read without building the sequence.
    /// Version 4 stores them first: they alone are read and checked. In older versions the
    /// structure and content are read and checked, the history skipped. For showing what a
    /// state holds (a compact message body's text); to edit or merge a state, or to check one
    /// from elsewhere in full, load it with ``init(decoding:replica:)``.
    /// - Complexity: O(state size); no tree, id index or applied-id sets are built.
    public static func visibleElements(ofState bytes: [UInt8]) throws(SequenceError) -> [Element] {
        var reader = ByteReader(bytes)
        let (core, version) = try SequenceCore.decodeHeader(from: &reader, localReplica: nil)
        guard version < 4 else { return Array(try SequenceCRDT(decodingTextFirst: bytes).content) }
        let spans = try SequenceCore.decodeSpans(from: &reader, version: version, replicaCount: core.replicas.count)
        let content = try readContent(count: spans.reduce(0) { $0 + Int($1.length) }, version: version, from: &reader)
        var visible: [Element] = []
        visible.reserveCapacity(spans.reduce(0) { $0 + ($1.isDeleted ? 0 : Int($1.length)) })
        var offset = 0
        for span in spans {
            if !span.isDeleted { visible.append(contentsOf: content[offset ..< offset + Int(span.length)]) }
            offset += Int(span.length)
        }
        return visible
    }
}
