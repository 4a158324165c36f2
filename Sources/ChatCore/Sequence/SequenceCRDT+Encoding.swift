/// The binary state format of a sequence (version 1).
///
/// ```
/// "SQ" 0x01 flags (bit 0: history kept)
/// replicas:  count, then 32 bytes each
/// spans:     count, then per span in document order:
///            replica, counter, length (varints), flags (bit 0 deleted; bits 1–2 origin-left:
///            0 none, 1 the previous element, 2 explicit; bits 3–4 origin-right: 0 none,
///            1 the next span's first element, 2 explicit), explicit origins as replica, counter
/// content:   every span's elements, in span order
/// history:   count, then per entry: replica, counter, count, kind (0 insert, 1 delete),
///            and for deletes the target's replica and counter
///            — or, without history, per replica: range count, then (start, length) pairs
/// ```
/// Loading rebuilds the B-tree directly from the spans, with no re-integration.
enum SequenceStateFormat {
    static let magic: [UInt8] = [0x53, 0x51]
    static let version: UInt8 = 1
    static let maxReplicas = 1 << 20
    static let maxSpans = 1 << 28
}

extension SequenceCore {
    /// Writes everything but the elements.
    func encodeStructure(into writer: inout ByteWriter) {
        writer.write(bytes: SequenceStateFormat.magic)
        writer.write(byte: SequenceStateFormat.version)
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
        var spans: [Span] = []
        tree.forEachRun { spans.append($0) }
        writer.write(varint: UInt64(spans.count))
        for (i, span) in spans.enumerated() {
            writer.write(varint: span.id.replica)
            writer.write(varint: span.id.counter)
            writer.write(varint: span.length)
            let previous = i > 0 ? spans[i - 1].lastID : LocalID.none
            let next = i + 1 < spans.count ? spans[i + 1].id : LocalID.none
            let leftKind: UInt8 = span.originLeft.isNone ? 0 : span.originLeft == previous ? 1 : 2
            let rightKind: UInt8 = span.originRight.isNone ? 0 : span.originRight == next ? 1 : 2
            writer.write(byte: (span.isDeleted ? 1 : 0) | leftKind << 1 | rightKind << 3)
            if leftKind == 2 {
                writer.write(varint: span.originLeft.replica)
                writer.write(varint: span.originLeft.counter)
            }
            if rightKind == 2 {
                writer.write(varint: span.originRight.replica)
                writer.write(varint: span.originRight.counter)
            }
        }
    }

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
        for entry in log {
            writer.write(varint: entry.id.replica)
            writer.write(varint: entry.id.counter)
            writer.write(varint: entry.count)
            writer.write(byte: entry.isInsert ? 0 : 1)
            if !entry.isInsert {
                writer.write(varint: entry.target.replica)
                writer.write(varint: entry.target.counter)
            }
        }
    }

    /// Reads the structure; returns the spans (content offsets not yet assigned).
    static func decodeStructure(from reader: inout ByteReader, localReplica: ReplicaID?)
        throws(SequenceError) -> (core: SequenceCore, spans: ContiguousArray<Span>)
    {
        do {
            let magic = try reader.readBytes(2)
            guard magic.first == SequenceStateFormat.magic[0], magic.last == SequenceStateFormat.magic[1] else {
                throw SequenceError.malformedState("not a sequence state")
            }
            let version = try reader.readByte()
            guard version == SequenceStateFormat.version else {
                throw SequenceError.malformedState("unsupported version \(version)")
            }
            let flags = try reader.readByte()
            guard flags <= 1 else { throw SequenceError.malformedState("unknown flags") }
            let replicaCount = try reader.readCount(limit: min(SequenceStateFormat.maxReplicas, reader.remaining / 32))
            guard replicaCount > 0 else { throw SequenceError.malformedState("no replicas") }
            // Stored replica numbers are the core's numbers: interned in the stored order.
            var core: SequenceCore?
            for _ in 0 ..< replicaCount {
                guard let replica = ReplicaID(bytes: try reader.readBytes(32)) else {
                    throw SequenceError.malformedState("bad replica id")
                }
                if core == nil { core = SequenceCore(localReplica: localReplica ?? replica, keepsHistory: flags & 1 == 1) }
                guard core?.number(of: replica) == nil else { throw SequenceError.malformedState("duplicate replica ids") }
                _ = core?.intern(replica)
            }
            guard let core else { throw SequenceError.malformedState("no replicas") }
            let numbers = (0 ..< UInt32(replicaCount))
            func replicaNumber(_ stored: UInt32) throws(SequenceError) -> UInt32 {
                guard numbers.contains(stored) else { throw .malformedState("replica number out of range") }
                return stored
            }
            let spanCount = try reader.readCount(limit: min(SequenceStateFormat.maxSpans, reader.remaining / 4))
            var spans = ContiguousArray<Span>()
            spans.reserveCapacity(spanCount)
            // A span whose origin-right is "the next span's first element" is resolved when the
            // next span is read.
            var previousWantsNext = false
            for _ in 0 ..< spanCount {
                let replica = try replicaNumber(try reader.readVarint32())
                let counter = try reader.readVarint32()
                let length = try reader.readVarint32()
                // `counter` is untrusted: check it before subtracting (ids end below UInt32.max,
                // which `LocalID.none` uses).
                guard length > 0, counter < UInt32.max, length <= UInt32.max - 1 - counter else {
                    throw SequenceError.malformedState("bad span length")
                }
                let flags = try reader.readByte()
                guard flags < 32, (flags >> 1) & 3 != 3, (flags >> 3) & 3 != 3 else {
                    throw SequenceError.malformedState("bad span flags")
                }
                var span = Span(id: LocalID(replica: replica, counter: counter), length: length,
                                originLeft: .none, originRight: .none, contentStart: 0, isDeleted: flags & 1 == 1)
                switch (flags >> 1) & 3 {
                case 1:
                    guard let previous = spans.last else { throw SequenceError.malformedState("no previous element") }
                    span.originLeft = previous.lastID
                case 2:
                    span.originLeft = LocalID(replica: try replicaNumber(try reader.readVarint32()), counter: try reader.readVarint32())
                default: break
                }
                if previousWantsNext { spans[spans.count - 1].originRight = span.id }
                previousWantsNext = false
                switch (flags >> 3) & 3 {
                case 1: previousWantsNext = true
                case 2:
                    span.originRight = LocalID(replica: try replicaNumber(try reader.readVarint32()), counter: try reader.readVarint32())
                default: break
                }
                spans.append(span)
            }
            // Resolve "next span's first element" origins.
            guard !previousWantsNext else { throw SequenceError.malformedState("no next element") }
            // No two spans may share an id.
            if spans.count > 1, spans.count <= 8 {
                for i in spans.indices {
                    for j in spans.indices where j > i && spans[i].id.replica == spans[j].id.replica {
                        let a = spans[i], b = spans[j]
                        if a.id.counter < b.id.counter + b.length && b.id.counter < a.id.counter + a.length {
                            throw SequenceError.malformedState("two spans share an id")
                        }
                    }
                }
            } else if spans.count > 8 {
            let ranges = spans.map { (replica: $0.id.replica, start: $0.id.counter, end: $0.id.counter + $0.length) }
                .sorted { ($0.replica, $0.start) < ($1.replica, $1.start) }
            for (a, b) in zip(ranges, ranges.dropFirst()) where a.replica == b.replica && a.end > b.start {
                throw SequenceError.malformedState("two spans share an id")
            }
            }
            return (core, spans)
        } catch let error as SequenceError {
            throw error
        } catch let error as BinaryDecodingError {
            throw .malformedState(error.description)
        } catch {
            throw .malformedState("\(error)")
        }
    }

    /// Reads the history, rebuilds the applied-id sets, and checks spans against them.
    mutating func decodeHistory(from reader: inout ByteReader, spans: ContiguousArray<Span>) throws(SequenceError) {
        do {
            let numbers = 0 ..< UInt32(replicas.count)
            func replicaNumber(_ value: UInt32) throws(SequenceError) -> UInt32 {
                guard numbers.contains(value) else { throw .malformedState("replica number out of range") }
                return value
            }
            guard keepsHistory else {
                for stored in numbers {
                    for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 2)) {
                        let start = try reader.readVarint32()
                        let length = try reader.readVarint32()
                        guard length > 0, start < UInt32.max, length <= UInt32.max - 1 - start,
                              replicas.entries[Int(stored)].seen.upperBound <= start else {
                            throw SequenceError.malformedState("bad applied range")
                        }
                        replicas.entries[Int(stored)].seen.insert(start ..< start + length)
                    }
                }
                guard spans.allSatisfy({ replicas.entries[Int($0.id.replica)].seen.contains($0.id.counter ..< $0.id.counter + $0.length) }) else {
                    throw SequenceError.malformedState("element missing from the applied ranges")
                }
                return
            }
            let count = try reader.readCount(limit: reader.remaining / 4)
            log.reserveCapacity(count)
            var inserted = 0
            for _ in 0 ..< count {
                let replica = try replicaNumber(try reader.readVarint32())
                let counter = try reader.readVarint32()
                let length = try reader.readVarint32()
                guard length > 0, counter < UInt32.max, length <= UInt32.max - 1 - counter else {
                    throw SequenceError.malformedState("bad history entry")
                }
                let kind = try reader.readByte()
                var target = LocalID.none
                switch kind {
                case 0: inserted += Int(length)
                case 1:
                    target = LocalID(replica: try replicaNumber(try reader.readVarint32()), counter: try reader.readVarint32())
                    guard target.counter <= UInt32.max - 1 - length else { throw SequenceError.malformedState("bad target") }
                default: throw SequenceError.malformedState("bad history kind")
                }
                guard replicas.entries[Int(replica)].seen.isDisjoint(with: counter ..< counter + length) else {
                    throw SequenceError.malformedState("history repeats an id")
                }
                replicas.entries[Int(replica)].seen.insert(counter ..< counter + length)
                log.append(LogEntry(id: LocalID(replica: replica, counter: counter), count: length, target: target))
            }
            var elements = 0
            for span in spans {
                elements += Int(span.length)
                guard replicas.entries[Int(span.id.replica)].seen.contains(span.id.counter ..< span.id.counter + span.length) else {
                    throw SequenceError.malformedState("element missing from history")
                }
            }
            guard elements == inserted else { throw SequenceError.malformedState("history and elements disagree") }
        } catch let error as SequenceError {
            throw error
        } catch let error as BinaryDecodingError {
            throw .malformedState(error.description)
        } catch {
            throw .malformedState("\(error)")
        }
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
        core.encodeStructure(into: &writer)
        core.tree.forEachRun { span in
            let start = Int(span.contentStart)
            for element in content[start ..< start + Int(span.length)] { element.encode(into: &writer) }
        }
        core.encodeHistory(into: &writer)
    }

    /// Loads a state produced by ``encodedState()``; local edits are made as `replica` (default:
    /// the replica that saved it). Untrusted input is checked: malformed bytes throw.
    /// - Complexity: O(n); no operation is re-integrated.
    public init(decoding bytes: [UInt8], replica: ReplicaID? = nil) throws(SequenceError) {
        var reader = ByteReader(bytes)
        try self.init(decoding: &reader, replica: replica)
        guard reader.isAtEnd else { throw .malformedState("trailing bytes") }
    }

    /// Reads one state from `reader` (as written by ``encodeState(into:)``).
    public init(decoding reader: inout ByteReader, replica: ReplicaID? = nil) throws(SequenceError) {
        var (core, spans) = try SequenceCore.decodeStructure(from: &reader, localReplica: replica)
        var content = ContiguousArray<Element>()
        // Span lengths are untrusted; every element takes at least one byte of input.
        content.reserveCapacity(min(spans.reduce(0) { $0 + Int($1.length) }, reader.remaining))
        var offset: UInt32 = 0
        do {
            for i in spans.indices {
                spans[i].contentStart = offset
                for _ in 0 ..< spans[i].length { content.append(try Element.decode(from: &reader)) }
                offset &+= spans[i].length
            }
        } catch {
            throw .malformedState(error.description)
        }
        try core.decodeHistory(from: &reader, spans: spans)
        core.tree.bulkLoad(spans)
        self.core = core
        self.content = content
        self.pending = []
        self.core.checkInvariants()
    }
}
