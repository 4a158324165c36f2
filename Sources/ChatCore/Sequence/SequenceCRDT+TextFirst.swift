import Synchronization

/// Text-first loading. A version 4 state stores its visible elements before anything else, so
/// a load can show them at once and leave the spans, the deleted elements and the history
/// encoded until an edit, a merge or a read of ids needs them (Loro loads its snapshots
/// lazily too). ``init(decoding:replica:)`` still reads and checks everything at once.
extension SequenceCRDT where Element: SequenceElementCodable {
    /// Loads a state produced by ``encodedState()``, reading and checking its header and
    /// visible elements only: ``count``, ``elements`` and ``encodedState()`` answer without
    /// more. The rest is decoded and checked once, by ``completeLoad()``, which edits, merges
    /// and reads of ids, clocks and history call first. States older than version 4 are read
    /// whole. Until then ``encodedState()`` gives back the bytes read, unchecked: call
    /// ``completeLoad()`` first to save only a state known whole.
    /// - Throws: ``SequenceError/malformedState(_:)`` for a malformed header or text, or
    ///   trailing bytes.
    /// - Complexity: O(visible elements).
    public init(decodingTextFirst bytes: [UInt8], replica: ReplicaID? = nil) throws(SequenceError) {
        var reader = ByteReader(bytes)
        try self.init(reading: &reader, replica: replica, defersAllButText: true)
        guard reader.isAtEnd else { throw .malformedState("trailing bytes") }
    }
}

extension SequenceCRDT {
    /// What a text-first load left encoded, shared by the copies of the sequence it made. Reads
    /// that cannot store the completed sequence (non-mutating ones) build it once here.
    @usableFromInline
    final class DeferredSections: Sendable {
        /// The whole state as read (``encodedState()`` of an untouched sequence is these bytes).
        let state: ArraySlice<UInt8>
        /// The sequence as loaded so far: its visible elements and replica table (the core's
        /// tree refuses local edits), with no deferred sections of its own.
        let partial: SequenceCRDT
        /// Decodes the deferred sections into `partial`.
        let complete: @Sendable (SequenceCRDT) throws(SequenceError) -> SequenceCRDT
        /// The completed sequence (or why it could not be), once a read has built it.
        let completedForReads = Mutex<Result<SequenceCRDT, SequenceError>?>(nil)

        init(state: ArraySlice<UInt8>, partial: SequenceCRDT,
             complete: @escaping @Sendable (SequenceCRDT) throws(SequenceError) -> SequenceCRDT) {
            self.state = state
            self.partial = partial
            self.complete = complete
        }

        /// The completed sequence; kept for other copies' reads when `shared`, handed over when
        /// not (a copy kept here would make the first edit copy every buffer). A failure is
        /// always kept: a malformed state is decoded once, not again on every edit refused.
        func completed(shared: Bool) throws(SequenceError) -> SequenceCRDT {
            let result = completedForReads.withLock { cached in
                if let known = cached {
                    if !shared, case .success = known { cached = nil }
                    return known
                }
                let built = Result { () throws(SequenceError) in try complete(partial) }
                if shared || (try? built.get()) == nil { cached = built }
                return built
            }
            return try result.get()
        }

        /// The sequence reads of ids, clocks and history answer from: the completed one, or an
        /// empty one when the deferred sections are malformed. (Reached through the box alone,
        /// so an inlined read never copies the sequence that holds it.)
        var loaded: SequenceCRDT {
            (try? completed(shared: true)) ?? SequenceCRDT(replica: partial.replica, keepsHistory: partial.keepsHistory)
        }

        /// ``SequenceCRDT/nextCounter`` of the completed sequence.
        @usableFromInline var loadedNextCounter: UInt32 { loaded.nextCounter }
    }

    /// True unless a text-first load left sections to decode (see ``completeLoad()``).
    public var isLoadComplete: Bool { deferred == nil }

    /// Decodes and checks what a text-first load (``init(decodingTextFirst:replica:)``) left
    /// encoded; nothing to do otherwise. Edits and merges call it first; call it to learn at
    /// once whether the state is whole.
    /// - Throws: ``SequenceError/malformedState(_:)`` when those sections are malformed. The
    ///   sequence then still shows its visible elements, refuses every edit and merge with this
    ///   error, and answers reads of ids, clocks and history as an empty sequence would.
    /// - Complexity: O(n) the first time, then O(1).
    public mutating func completeLoad() throws(SequenceError) {
        guard deferred != nil else { return }
        let shared = !isKnownUniquelyReferenced(&deferred)
        self = try deferred!.completed(shared: shared)
    }

    /// The sequence that reads of ids, clocks and history answer from: `self`, or after a
    /// text-first load the completed sequence (built once and shared by copies), or an empty
    /// one when the deferred sections are malformed.
    var loadedForReading: SequenceCRDT { deferred?.loaded ?? self }
}
