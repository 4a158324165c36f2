/// The id of one operation: its author and the author's counter.
///
/// Each replica numbers its operations densely from 0, so `(replica, counter)` is unique and a
/// run of `n` operations is `counter ..< counter + n`.
public struct OpID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The replica that made the operation.
    public var replica: ReplicaID
    /// The position of the operation in its replica's history.
    public var counter: UInt32

    /// Creates an operation id.
    public init(replica: ReplicaID, counter: UInt32) {
        self.replica = replica
        self.counter = counter
    }

    /// Orders by counter, then replica: a total order consistent with nothing in particular,
    /// used only to make outputs deterministic.
    public static func < (lhs: OpID, rhs: OpID) -> Bool {
        (lhs.counter, lhs.replica) < (rhs.counter, rhs.replica)
    }

    public var description: String { "\(replica)@\(counter)" }
}
