/// A message's text: a ``SequenceCRDT`` while it is being edited, and otherwise its encoded state
/// (the sequence's own binary form, ``SequenceCRDT/encodedState()``), which takes about a tenth
/// of the memory. Most messages of a long conversation are never edited again, so a conversation
/// keeps only its recently edited bodies live (see ``ConversationDocument``).
///
/// Readers of a compact body's text read it from the state (O(body), building nothing); readers
/// of its sequence decode it; an edit decodes it once and keeps it live until the conversation
/// compacts it again. A compact body holds only states that decode: encoded
/// from a live sequence, or checked by ``init(checkedState:checker:)``.
public struct MessageBody: Sendable {
    /// The encoded state while compact; empty while live.
    private var encoded: [UInt8] = []
    /// The sequence while live.
    private var live: LiveSequence?

    /// A live body.
    init(_ sequence: SequenceCRDT<Unicode.Scalar>) {
        live = LiveSequence(sequence)
    }

    /// A compact body from the encoded state at `reader` (as ``encodeState(into:)`` wrote it),
    /// which `checker` checks without decoding it: malformed bytes throw.
    /// - Complexity: O(state size).
    init(checkedState reader: inout ByteReader, checker: inout SequenceStateChecker) throws(SequenceError) {
        let start = reader.offset
        try checker.check(&reader)
        encoded = reader.bytes(from: start)
    }

    /// True while the body is held as a ``SequenceCRDT`` rather than encoded.
    public var isLive: Bool { live != nil }

    /// The text CRDT: the live one, or the compact state decoded (O(body)).
    public var sequence: SequenceCRDT<Unicode.Scalar> {
        if let live { return live.sequence }
        // Only states that decoded are kept compact (see the type's comment): this never fails.
        return (try? SequenceCRDT(decoding: encoded)) ?? SequenceCRDT(replica: ReplicaID(words: (0, 0, 0, 0)), keepsHistory: false)
    }

    /// What `read` finds in the text CRDT, without copying a live one (the hot path of judging
    /// edits); a compact one is decoded (O(body)).
    public func reading<Result>(_ read: (borrowing SequenceCRDT<Unicode.Scalar>) throws -> Result) rethrows -> Result {
        if let live { return try read(live.sequence) }
        return try read(sequence)
    }

    /// The number of visible scalars.
    public var count: Int { live?.sequence.count ?? elements.count }

    /// The visible text.
    public var text: String {
        if let live { return live.sequence.text }
        return SequenceCRDT<Unicode.Scalar>.string(of: elements)
    }

    /// The visible scalars in order: a compact body's are read from its state without building
    /// the sequence (``SequenceCRDT/visibleElements(ofState:)``, several times faster).
    public var elements: [Unicode.Scalar] {
        if let live { return live.sequence.elements }
        // Only states that decoded are kept compact (see the type's comment): this never fails.
        return (try? SequenceCRDT<Unicode.Scalar>.visibleElements(ofState: encoded)) ?? []
    }

    /// Changes the text CRDT, making the body live first (copied when shared, like any value).
    mutating func edit<Result, Failure: Error>(
        _ change: (inout SequenceCRDT<Unicode.Scalar>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if live == nil {
            live = LiveSequence(sequence)
            encoded = []
        } else if !isKnownUniquelyReferenced(&live) {
            live = LiveSequence(live!.sequence)
        }
        return try change(&live!.sequence)
    }

    /// Encodes a live body and lets the sequence go.
    /// - Complexity: O(body).
    mutating func compact() {
        guard let live else { return }
        // Copied to an exact-size buffer: the writer's spare capacity would cost a third more.
        let state = live.sequence.encodedState()
        encoded = [UInt8](unsafeUninitializedCapacity: state.count) { buffer, count in
            count = buffer.initialize(fromContentsOf: state)
        }
        self.live = nil
    }

    /// Appends the body's encoded state to `writer` (as ``SequenceCRDT/encodeState(into:)``).
    func encodeState(into writer: inout ByteWriter) {
        if let live { live.sequence.encodeState(into: &writer) } else { writer.write(bytes: encoded) }
    }
}

/// The storage of a live ``MessageBody``: a class so that a compact body costs one optional
/// reference rather than the sequence's inline size. Changed only through
/// ``MessageBody/edit(_:)``, which copies it first when it is shared, so bodies keep value
/// semantics; that is what makes the unchecked `Sendable` sound.
private final class LiveSequence: @unchecked Sendable {
    var sequence: SequenceCRDT<Unicode.Scalar>

    init(_ sequence: SequenceCRDT<Unicode.Scalar>) {
        self.sequence = sequence
    }
}
