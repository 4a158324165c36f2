import ChatCore

/// A batch another batch was built on, named by its author, how far it reaches in its author's
/// counters, and its hash: "the batch of `replica` whose last id is `count - 1`, with hash `hash`".
///
/// A batch names its author's previous batch by hash (``BatchContent/previousHash``) and, as
/// dependencies, the heads of other authors it saw since that batch (Kleppmann, *Making CRDTs
/// Byzantine Fault Tolerant*, 2022). The count lets a receiver wait for a dependency with a
/// counter comparison and fetch it by a clock; the hash makes the causal past tamper-proof and
/// tells two branches of an author who forked apart.
public struct BatchDependency: Sendable, Hashable, Comparable {
    public var replica: ReplicaID
    /// One past the last counter of the named batch.
    public var count: UInt32
    public var hash: [UInt8]

    public init(replica: ReplicaID, count: UInt32, hash: [UInt8]) {
        self.replica = replica
        self.count = count
        self.hash = hash
    }

    public static func < (lhs: BatchDependency, rhs: BatchDependency) -> Bool {
        lhs.replica != rhs.replica ? lhs.replica < rhs.replica
            : lhs.count != rhs.count ? lhs.count < rhs.count : lhs.hash.lexicographicallyPrecedes(rhs.hash)
    }

    /// Wire bytes of one dependency: replica, count (varint), hash.
    func encode(into writer: inout ByteWriter) {
        writer.write(bytes: replica.bytes)
        writer.write(varint: count)
        writer.write(bytes: hash)
    }

    /// Reads one dependency; the count must be positive.
    static func decode(from reader: inout WireReader) throws(WireError) -> BatchDependency {
        let replica = try reader.replicaID()
        let count = try reader.varint32()
        guard count > 0 else { throw .nonCanonical("a dependency names no operations") }
        return BatchDependency(replica: replica, count: count, hash: Array(try reader.bytes(WireFormat.hashBytes)))
    }
}
