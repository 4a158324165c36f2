/// An operation id inside one sequence: the replica as an index into the sequence's replica
/// table, and the counter. Eight bytes, so spans stay small and comparisons cheap.
@usableFromInline
struct LocalID: Hashable, Sendable {
    @usableFromInline var replica: UInt32
    @usableFromInline var counter: UInt32

    @usableFromInline
    init(replica: UInt32, counter: UInt32) {
        self.replica = replica
        self.counter = counter
    }

    /// "No element": the start of the document as an origin-left, its end as an origin-right.
    @usableFromInline static let none = LocalID(replica: .max, counter: .max)

    @usableFromInline var isNone: Bool { replica == .max }

    @inlinable
    func advanced(by distance: UInt32) -> LocalID {
        LocalID(replica: replica, counter: counter &+ distance)
    }
}

/// A run of consecutive elements inserted by one replica: ids `id ..< id + length`, where each
/// element after the first has the previous one as its origin-left and all share one
/// origin-right. A typed word is one span. Content lives in the sequence's content buffer at
/// `contentStart ..< contentStart + length`.
struct Span: Sendable {
    var id: LocalID
    var length: UInt32
    /// Origin-left of the first element (`.none`: the document start).
    var originLeft: LocalID
    /// Origin-right shared by every element (`.none`: the document end).
    var originRight: LocalID
    var contentStart: UInt32
    var isDeleted: Bool

    @inline(__always) var visibleLength: Int { isDeleted ? 0 : Int(length) }

    /// The id of the last element.
    @inline(__always) var lastID: LocalID { id.advanced(by: length &- 1) }

    /// True when `other` lies inside this span's id range.
    @inline(__always)
    func contains(_ other: LocalID) -> Bool {
        other.replica == id.replica && other.counter &- id.counter < length
    }

    /// Origin-left of the element at `offset`.
    @inline(__always)
    func originLeft(at offset: UInt32) -> LocalID {
        offset == 0 ? originLeft : id.advanced(by: offset &- 1)
    }

    /// Cuts the span at `offset` (0 < offset < length): `self` keeps the front, the back is returned.
    mutating func split(at offset: UInt32) -> Span {
        var back = self
        back.id = id.advanced(by: offset)
        back.length = length - offset
        back.originLeft = id.advanced(by: offset - 1)
        back.contentStart = contentStart + offset
        length = offset
        return back
    }

    /// True when `next`, placed directly after this span, continues it: the two can be one span.
    @inline(__always)
    func canAppend(_ next: Span) -> Bool {
        next.id.replica == id.replica && next.id.counter == id.counter &+ length
            && next.originLeft == lastID && next.originRight == originRight
            && next.isDeleted == isDeleted && next.contentStart == contentStart &+ length
    }
}
