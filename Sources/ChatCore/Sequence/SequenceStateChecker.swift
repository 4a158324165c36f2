/// Checks encoded text states without building them: exactly the states
/// ``SequenceCRDT/init(decoding:replica:)`` accepts for `Unicode.Scalar` pass, with the same
/// input read. A conversation snapshot checks its message bodies this way and keeps them
/// encoded (see ``MessageBody``); the fuzzer checks that both agree on every input.
///
/// Version 1 states without history (message bodies) are walked here, reusing the checker's
/// buffers from one state to the next, so a check allocates nothing. Other states are decoded
/// in full.
public struct SequenceStateChecker: Sendable {
    private struct CheckedSpan: Sendable {
        var replica: UInt32
        var start: UInt32
        var end: UInt32
    }

    private var replicas: [ReplicaID] = []
    private var spans: [CheckedSpan] = []
    /// The applied ranges, per replica in order, adjacent ones merged (as `IDRangeSet` does).
    private var applied: [CheckedSpan] = []

    public init() {}

    /// Checks the state at `reader`, leaving the reader after it.
    /// - Throws: ``SequenceError/malformedState(_:)`` where the decoder would.
    /// - Complexity: O(state size), plus O(n log n) for more than eight spans or replicas.
    public mutating func check(_ reader: inout ByteReader) throws(SequenceError) {
        let start = reader
        do {
            let magic = try reader.readBytes(2)
            let version = try reader.readByte()
            let flags = try reader.readByte()
            guard magic.first == SequenceStateFormat.magic[0], magic.last == SequenceStateFormat.magic[1],
                  version == 1, flags == 0 else {
                reader = start
                _ = try SequenceCRDT<Unicode.Scalar>(decoding: &reader)
                return
            }
            try checkReplicas(&reader)
            try checkSpans(&reader)
            var total = 0
            for span in spans { total += Int(span.end - span.start) }
            guard total <= reader.remaining else { throw SequenceError.malformedState(BinaryDecodingError.truncated(offset: reader.offset).description) }
            try Self.checkText(total, &reader)
            try checkApplied(&reader)
        } catch {
            throw SequenceError.malformed(error)
        }
    }

    private mutating func checkReplicas(_ reader: inout ByteReader) throws(SequenceError) {
        do {
            let count = try reader.readCount(limit: min(SequenceStateFormat.maxReplicas, reader.remaining / 32))
            guard count > 0 else { throw SequenceError.malformedState("no replicas") }
            replicas.removeAll(keepingCapacity: true)
            for _ in 0 ..< count { replicas.append(try reader.readReplicaID()) }
        } catch {
            throw SequenceError.malformed(error)
        }
        let unique = replicas.count <= 8
            ? !replicas.indices.contains { i in replicas[(i + 1)...].contains(replicas[i]) }
            : Set(replicas).count == replicas.count
        guard unique else { throw .malformedState("duplicate replica ids") }
    }

    /// Version 1 spans, checked as the decoder's span builder checks them.
    private mutating func checkSpans(_ reader: inout ByteReader) throws(SequenceError) {
        spans.removeAll(keepingCapacity: true)
        let replicaCount = UInt32(replicas.count)
        var previousWantsNext = false
        do {
            let count = try reader.readCount(limit: min(SequenceStateFormat.maxSpans, reader.remaining / 4))
            for _ in 0 ..< count {
                let replica = try reader.readVarint32()
                let counter = try reader.readVarint32()
                let length = try reader.readVarint32()
                let flags = try reader.readByte()
                let (leftKind, rightKind) = ((flags >> 1) & 3, (flags >> 3) & 3)
                // Explicit origins: only their replica numbers are checked (the counters are any).
                var leftReplica: UInt32 = 0
                var rightReplica: UInt32 = 0
                if leftKind == 2 { leftReplica = try reader.readVarint32(); _ = try reader.readVarint32() }
                if rightKind == 2 { rightReplica = try reader.readVarint32(); _ = try reader.readVarint32() }
                guard replica < replicaCount else { throw SequenceError.malformedState("replica number out of range") }
                guard length > 0, counter < UInt32.max, length <= UInt32.max - 1 - counter else {
                    throw SequenceError.malformedState("bad span length")
                }
                guard flags < 32, leftKind != 3, rightKind != 3 else { throw SequenceError.malformedState("bad span flags") }
                guard leftKind != 1 || !spans.isEmpty else { throw SequenceError.malformedState("no previous element") }
                guard leftReplica < replicaCount, rightReplica < replicaCount else {
                    throw SequenceError.malformedState("replica number out of range")
                }
                previousWantsNext = rightKind == 1
                spans.append(CheckedSpan(replica: replica, start: counter, end: counter + length))
            }
        } catch {
            throw SequenceError.malformed(error)
        }
        guard !previousWantsNext else { throw .malformedState("no next element") }
        guard !Self.overlap(spans) else { throw .malformedState("two spans share an id") }
    }

    /// True when two spans of one replica share an id.
    private static func overlap(_ spans: [CheckedSpan]) -> Bool {
        if spans.count <= 8 {
            return spans.indices.contains { i in
                spans[(i + 1)...].contains { $0.replica == spans[i].replica && $0.start < spans[i].end && spans[i].start < $0.end }
            }
        }
        let sorted = spans.sorted { ($0.replica, $0.start) < ($1.replica, $1.start) }
        return zip(sorted, sorted.dropFirst()).contains { $0.replica == $1.replica && $0.end > $1.start }
    }

    /// `count` scalars of strict UTF-8, as `Unicode.Scalar` decodes them.
    private static func checkText(_ count: Int, _ reader: inout ByteReader) throws(BinaryDecodingError) {
        var left = count
        while left > 0 {
            left -= reader.readASCIIRun(limit: left).count
            if left > 0 {
                _ = try Unicode.Scalar.decode(from: &reader)
                left -= 1
            }
        }
    }

    /// Each replica's applied ranges (ascending, as the decoder requires), then that every
    /// span's ids were applied.
    private mutating func checkApplied(_ reader: inout ByteReader) throws(SequenceError) {
        applied.removeAll(keepingCapacity: true)
        do {
            for replica in 0 ..< UInt32(replicas.count) {
                var upperBound: UInt32 = 0
                for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 2)) {
                    let start = try reader.readVarint32()
                    let length = try reader.readVarint32()
                    guard length > 0, start < UInt32.max, length <= UInt32.max - 1 - start, upperBound <= start else {
                        throw SequenceError.malformedState("bad applied range")
                    }
                    upperBound = start + length
                    if let last = applied.last, last.replica == replica, last.end == start {
                        applied[applied.count - 1].end = upperBound
                    } else {
                        applied.append(CheckedSpan(replica: replica, start: start, end: upperBound))
                    }
                }
            }
        } catch {
            throw SequenceError.malformed(error)
        }
        for span in spans {
            // The ranges are sorted by (replica, start): the last one starting at or before the span.
            var low = 0
            var high = applied.count
            while low < high {
                let mid = (low + high) / 2
                if (applied[mid].replica, applied[mid].start) <= (span.replica, span.start) { low = mid + 1 } else { high = mid }
            }
            guard low > 0, applied[low - 1].replica == span.replica, span.end <= applied[low - 1].end else {
                throw .malformedState("element missing from the applied ranges")
            }
        }
    }
}
