/// One operation on a ``SequenceCRDT``: a run of inserted elements or a run of deletions.
///
/// An operation with `count` elements uses the ids `id ..< id + count` of its replica.
public enum SequenceOp<Element: Sendable>: Sendable {
    case insert(SequenceInsert<Element>)
    case delete(SequenceDelete)

    /// The id of the operation's first element.
    public var id: OpID {
        switch self {
        case .insert(let insert): insert.id
        case .delete(let delete): delete.id
        }
    }

    /// How many ids the operation uses.
    public var count: Int {
        switch self {
        case .insert(let insert): insert.content.count
        case .delete(let delete): Int(delete.count)
        }
    }
}

extension SequenceOp: Equatable where Element: Equatable {}
extension SequenceOp: Hashable where Element: Hashable {}

/// Inserts `content` between the element `originLeft` and the element `originRight`, which were
/// neighbours where the author typed. Element `i` of the content has id `id + i`; element `i > 0`
/// has element `i - 1` as its origin-left.
public struct SequenceInsert<Element: Sendable>: Sendable {
    /// The id of the first inserted element.
    public var id: OpID
    /// The element the content was typed after; nil for the start of the sequence.
    public var originLeft: OpID?
    /// The element that followed it at that moment; nil for the end of the sequence.
    public var originRight: OpID?
    /// The inserted elements (at least one).
    public var content: [Element]

    /// Creates an insert operation.
    public init(id: OpID, originLeft: OpID?, originRight: OpID?, content: [Element]) {
        self.id = id
        self.originLeft = originLeft
        self.originRight = originRight
        self.content = content
    }
}

extension SequenceInsert: Equatable where Element: Equatable {}
extension SequenceInsert: Hashable where Element: Hashable {}

/// Deletes the elements `target ..< target + count` (one replica's consecutive ids); uses the
/// ids `id ..< id + count` of its own author.
public struct SequenceDelete: Sendable, Hashable {
    /// The id of the deletion's first id.
    public var id: OpID
    /// The first deleted element.
    public var target: OpID
    /// How many consecutive elements of `target.replica` are deleted.
    public var count: UInt32

    /// Creates a delete operation.
    public init(id: OpID, target: OpID, count: UInt32) {
        self.id = id
        self.target = target
        self.count = count
    }
}

/// What applying a remote operation did.
public enum SequenceApplyOutcome: Sendable, Hashable {
    /// The operation changed the sequence.
    case applied
    /// Every id of the operation was already applied: nothing changed.
    case duplicate
    /// An element the operation refers to has not arrived; it waits in the pending buffer.
    case pending
}

/// Why a sequence operation was refused. Stable `code`s for counters and logs.
public enum SequenceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A local edit named an index outside the sequence.
    case indexOutOfBounds(index: Int, count: Int)
    /// An operation with no elements.
    case emptyOperation
    /// Counter plus length does not fit in 32 bits.
    case counterOverflow
    /// A local edit asked for a counter its replica has already used.
    case counterAlreadyUsed(OpID)
    /// The origin-right precedes the origin-left: no honest replica makes such an insert.
    case invalidOrigins(OpID)
    /// Too many operations are waiting for missing elements.
    case pendingBufferFull(limit: Int)
    /// A saved state could not be decoded.
    case malformedState(String)

    /// A decoding failure as the state decoders report it: a ``SequenceError`` as it is, any
    /// other as ``malformedState(_:)``.
    static func malformed(_ error: any Error) -> SequenceError {
        switch error {
        case let error as SequenceError: error
        case let error as BinaryDecodingError: .malformedState(error.description)
        default: .malformedState("\(error)")
        }
    }

    /// A stable, machine-readable reason code.
    public var code: String {
        switch self {
        case .indexOutOfBounds: "index_out_of_bounds"
        case .emptyOperation: "empty_operation"
        case .counterOverflow: "counter_overflow"
        case .counterAlreadyUsed: "counter_already_used"
        case .invalidOrigins: "invalid_origins"
        case .pendingBufferFull: "pending_buffer_full"
        case .malformedState: "malformed_state"
        }
    }

    public var description: String {
        switch self {
        case .indexOutOfBounds(let index, let count): "index \(index) is outside a sequence of \(count) elements"
        case .emptyOperation: "the operation has no elements"
        case .counterOverflow: "the operation's counters do not fit in 32 bits"
        case .counterAlreadyUsed(let id): "counter \(id) was already used"
        case .invalidOrigins(let id): "insert \(id) names an origin-right that precedes its origin-left"
        case .pendingBufferFull(let limit): "more than \(limit) operations are waiting for missing elements"
        case .malformedState(let reason): "saved sequence state is malformed: \(reason)"
        }
    }
}
