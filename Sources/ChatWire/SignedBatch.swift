import ChatCore

/// A run of one author's consecutive operations, as the author signed it.
///
/// Operation `i` has id `(author, firstCounter + ids used by operations 0 ..< i)`; the batch uses
/// `firstCounter ..< firstCounter + idCount`. `previousHash` is the hash of the author's previous
/// batch (all zeros for the first), `dependencies` the heads of other authors the author saw
/// since that batch (see ``BatchDependency``): the batch's causal past is the closure of both,
/// so its metadata grows with what is new since the author's previous batch, not with the
/// number of authors. `timestamp` is the author's clock in milliseconds since the Unix epoch.
/// The genesis batch names no conversation: its hash is the conversation id.
public struct BatchContent: Sendable, Hashable {
    public var conversation: ConversationID?
    public var author: ReplicaID
    public var firstCounter: UInt32
    public var timestamp: UInt64
    public var previousHash: [UInt8]
    /// Sorted by replica, at most one per replica, never the author.
    public var dependencies: [BatchDependency]
    public var operations: [ConversationOp]

    public init(conversation: ConversationID?, author: ReplicaID, firstCounter: UInt32, timestamp: UInt64,
                previousHash: [UInt8], dependencies: [BatchDependency], operations: [ConversationOp]) {
        self.conversation = conversation
        self.author = author
        self.firstCounter = firstCounter
        self.timestamp = timestamp
        self.previousHash = previousHash
        self.dependencies = dependencies
        self.operations = operations
    }

    /// The counts the batch names: each dependency's, and the author's own `firstCounter`. A
    /// lower bound of the batch's causal past, enough to order stored batches and to wait for
    /// dependencies by counter.
    public var namedCounts: VectorClock {
        var counts = VectorClock()
        for dependency in dependencies { counts[dependency.replica] = dependency.count }
        counts[author] = firstCounter
        return counts
    }

    /// The author's previous batch as a dependency (nil for a first batch).
    public var previousBatch: BatchDependency? {
        firstCounter == 0 ? nil : BatchDependency(replica: author, count: firstCounter, hash: previousHash)
    }

    /// How many ids the batch uses.
    public var idCount: UInt64 { operations.reduce(0) { $0 + UInt64($1.idCount) } }

    /// The id of each operation, in order.
    public var operationIDs: [OpID] {
        var counter = firstCounter
        return operations.map { op in
            defer { counter &+= op.idCount }
            return OpID(replica: author, counter: counter)
        }
    }

    /// The canonical bytes that are signed (everything but the signature).
    ///
    /// ```
    /// "SC" 0x01 0x01 flags(bit 0: names a conversation) [conversation 32]
    /// author 32, firstCounter, timestamp (varints), previousHash 32
    /// dependencies: count, then (replica 32, count varint, hash 32) sorted by replica
    /// replica table: count, then 32 bytes each (index 0, the author, is implicit)
    /// operations: count, then each operation
    /// ```
    /// - Complexity: O(size).
    public func signingBytes() -> [UInt8] {
        var ops = ByteWriter(capacity: operations.count * 8)
        var table = ReplicaTableBuilder(author: author)
        for op in operations { OperationCodec.encode(op, into: &ops, table: &table) }

        var writer = ByteWriter(capacity: ops.bytes.count + 160 + dependencies.count * 70)
        writer.writeHeader(.batch)
        writer.write(byte: conversation == nil ? 0 : 1)
        if let conversation { writer.write(bytes: conversation.bytes) }
        writer.write(bytes: author.bytes)
        writer.write(varint: firstCounter)
        writer.write(varint: timestamp)
        writer.write(bytes: previousHash)
        writer.write(varint: UInt64(dependencies.count))
        for dependency in dependencies { dependency.encode(into: &writer) }
        writer.write(varint: UInt64(table.replicas.count - 1))
        for replica in table.replicas.dropFirst() { writer.write(bytes: replica.bytes) }
        writer.write(varint: UInt64(operations.count))
        writer.write(bytes: ops.bytes)
        return writer.bytes
    }
}

/// A batch with its Ed25519 signature, kept as the exact bytes that were signed and sent, so it
/// can be stored and forwarded verbatim and anyone can check who wrote it.
public struct SignedBatch: Sendable, Hashable {
    /// The decoded content.
    public let content: BatchContent
    /// The full encoding: signing bytes followed by the 64-byte signature.
    public let bytes: [UInt8]
    /// How many ids the batch uses (computed once).
    public let idCount: UInt64

    /// The bytes the signature covers.
    public var signedBytes: ArraySlice<UInt8> { bytes.dropLast(WireFormat.signatureBytes) }

    /// The 64 signature bytes.
    public var signature: ArraySlice<UInt8> { bytes.suffix(WireFormat.signatureBytes) }

    /// Encodes `content` and appends the signature `sign` makes over the encoding.
    public init(content: BatchContent, sign: ([UInt8]) -> [UInt8]) {
        self.content = content
        bytes = WireFormat.appendingSignature(to: content.signingBytes(), sign: sign)
        self.idCount = content.idCount
    }

    /// Decodes untrusted bytes. Checks structure, limits and canonical form; the signature is
    /// checked by the caller (this module does no cryptography).
    /// - Complexity: O(size).
    public init(decoding bytes: [UInt8], limits: WireLimits = .default) throws(WireError) {
        var reader = try WireFormat.signedPart(of: bytes, kind: .batch, field: "batch", maxBytes: limits.maxBatchBytes,
                                               limits: limits)
        let header = try BatchHeader(reading: &reader, limits: limits)
        let (conversation, author, firstCounter, timestamp, previousHash, dependencies) =
            (header.conversation, header.author, header.firstCounter, header.timestamp, header.previousHash, header.dependencies)
        let tableCount = try reader.count("replica table", limit: limits.maxReplicaTable)
        var others: [ReplicaID] = []
        others.reserveCapacity(tableCount)
        for _ in 0 ..< tableCount { others.append(try reader.replicaID()) }
        var table = ReplicaTableReader(author: author, others: others)
        let opCount = try reader.count("operations", limit: limits.maxOperationsPerBatch)
        guard opCount > 0 else { throw .invalidValue("a batch has at least one operation") }
        var operations: [ConversationOp] = []
        operations.reserveCapacity(opCount)
        var ids = UInt64(firstCounter)
        for _ in 0 ..< opCount {
            let op = try OperationCodec.decode(from: &reader, table: &table)
            ids += UInt64(op.idCount)
            operations.append(op)
        }
        try table.checkAllUsed()
        guard reader.isAtEnd else { throw .trailingBytes(bytes.count - WireFormat.signatureBytes - reader.offset) }
        guard ids <= UInt64(UInt32.max) else { throw .invalidValue("batch counters overflow 32 bits") }
        guard Set(others).count == others.count, !others.contains(author) else {
            throw .nonCanonical("replica table repeats a replica")
        }
        if case .genesis = operations[0] {
            guard conversation == nil, firstCounter == 0 else { throw .invalidValue("genesis outside a genesis batch") }
        } else if conversation == nil {
            throw .invalidValue("only a genesis batch names no conversation")
        }
        for op in operations.dropFirst() {
            if case .genesis = op { throw .invalidValue("genesis must be the first operation") }
        }
        self.content = BatchContent(
            conversation: conversation, author: author, firstCounter: firstCounter, timestamp: timestamp,
            previousHash: previousHash, dependencies: dependencies, operations: operations)
        self.bytes = bytes
        self.idCount = ids - UInt64(firstCounter)
    }
}

/// The part of a signed batch before its operations: who wrote it, where it sits in its
/// author's chain and what it was built on. Enough to rebuild the causal history of a stored log
/// without decoding every operation.
public struct BatchHeader: Sendable, Hashable {
    public var conversation: ConversationID?
    public var author: ReplicaID
    public var firstCounter: UInt32
    public var timestamp: UInt64
    public var previousHash: [UInt8]
    public var dependencies: [BatchDependency]

    /// The header of a batch's bytes (signature not checked; operations not read).
    /// - Complexity: O(dependencies).
    public init(decoding bytes: [UInt8], limits: WireLimits = .default) throws(WireError) {
        var reader = try WireFormat.signedPart(of: bytes, kind: .batch, field: "batch", maxBytes: limits.maxBatchBytes,
                                               limits: limits)
        self = try BatchHeader(reading: &reader, limits: limits)
    }

    /// Reads a header, checking its canonical form: sorted dependencies that never name the
    /// author, no previous hash for a first batch.
    init(reading reader: inout WireReader, limits: WireLimits) throws(WireError) {
        let flags = try reader.byte()
        guard flags <= 1 else { throw .nonCanonical("unknown batch flags") }
        conversation = flags == 1 ? try reader.conversationID() : nil
        author = try reader.replicaID()
        firstCounter = try reader.varint32()
        timestamp = try reader.varint()
        previousHash = Array(try reader.bytes(WireFormat.hashBytes))
        let dependencyCount = try reader.count("dependencies", limit: limits.maxDependencies)
        dependencies = []
        dependencies.reserveCapacity(dependencyCount)
        for _ in 0 ..< dependencyCount {
            let dependency = try BatchDependency.decode(from: &reader)
            guard dependencies.last.map({ $0.replica < dependency.replica }) ?? true else {
                throw .nonCanonical("dependencies not sorted by replica")
            }
            guard dependency.replica != author else { throw .nonCanonical("a batch depends on its author through previousHash") }
            dependencies.append(dependency)
        }
        guard firstCounter > 0 || previousHash.allSatisfy({ $0 == 0 }) else {
            throw .nonCanonical("a first batch names a previous hash")
        }
    }

    /// The author's previous batch as a dependency (nil for a first batch).
    public var previousBatch: BatchDependency? {
        firstCounter == 0 ? nil : BatchDependency(replica: author, count: firstCounter, hash: previousHash)
    }

    /// The previous batch and the dependencies: everything the batch names.
    public var references: [BatchDependency] { (previousBatch.map { [$0] } ?? []) + dependencies }
}
