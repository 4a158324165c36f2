public import ChatCore

/// How to open a `ChatStore`.
public struct StoreOptions: Sendable, Hashable {
    /// The initial LMDB map size in bytes (default 1 GiB); it doubles on demand.
    public var mapSize: Int
    /// The map never grows beyond this many bytes (default 1 TiB).
    public var maximumMapSize: Int
    /// The maximum number of concurrent read transactions.
    public var maxReaders: Int
    /// Open for inspection only (`MDB_RDONLY`): every write throws `StoreError.readOnly`.
    public var readOnly: Bool
    /// The most peer-session records kept per conversation (default 10,000); appending more deletes
    /// the oldest. At least 1.
    public var sessionRecordsPerConversation: Int

    /// Creates options; the defaults suit a node.
    public init(
        mapSize: Int = 1 << 30, maximumMapSize: Int = 1 << 40, maxReaders: Int = 126, readOnly: Bool = false,
        sessionRecordsPerConversation: Int = 10_000
    ) {
        self.mapSize = mapSize
        self.maximumMapSize = maximumMapSize
        self.maxReaders = maxReaders
        self.readOnly = readOnly
        self.sessionRecordsPerConversation = sessionRecordsPerConversation
    }
}

/// One signed batch as the store keeps it: verbatim bytes plus the fields the store indexes by.
///
/// The store neither decodes nor verifies `bytes`; the caller has done that and supplies the fields.
public struct BatchRecord: Sendable, Hashable {
    /// The conversation the batch belongs to.
    public var conversation: ConversationID
    /// The author (signer) of the batch.
    public var author: ReplicaID
    /// The counter of the batch's first op; its ops are `firstCounter ..< firstCounter + opCount`.
    public var firstCounter: UInt32
    /// The number of ops in the batch (at least 1).
    public var opCount: UInt32
    /// The batch's 32-byte hash (the next batch of the same author chains to it).
    public var hash: [UInt8]
    /// The signed batch, exactly as received or created.
    public var bytes: [UInt8]

    /// Creates a record.
    public init(
        conversation: ConversationID, author: ReplicaID, firstCounter: UInt32, opCount: UInt32,
        hash: [UInt8], bytes: [UInt8]
    ) {
        self.conversation = conversation
        self.author = author
        self.firstCounter = firstCounter
        self.opCount = opCount
        self.hash = hash
        self.bytes = bytes
    }

    /// One past the counter of the batch's last op, or nil if that overflows `UInt32`.
    public var endCounter: UInt32? {
        let (end, overflow) = firstCounter.addingReportingOverflow(opCount)
        return overflow ? nil : end
    }

    /// True when the batch holds the op with counter `counter`.
    public func contains(counter: UInt32) -> Bool {
        counter >= firstCounter && UInt64(counter) < UInt64(firstCounter) + UInt64(opCount)
    }
}

/// A snapshot of a conversation's materialized state, so that start-up need not replay everything.
public struct Snapshot: Sendable, Hashable {
    /// The conversation it belongs to.
    public var conversation: ConversationID
    /// The operations the snapshot reflects; replay batches above this clock on top of it.
    public var clock: VectorClock
    /// The encoded state, opaque to the store.
    public var bytes: [UInt8]

    /// Creates a snapshot.
    public init(conversation: ConversationID, clock: VectorClock, bytes: [UInt8]) {
        self.conversation = conversation
        self.clock = clock
        self.bytes = bytes
    }
}

/// What `ChatStore.append` did with one batch.
public enum BatchOutcome: Sendable, Hashable, CustomStringConvertible {
    /// Stored, and the author's head advanced past it.
    case stored
    /// Already stored with the same hash: skipped (applying a batch twice has no effect).
    case duplicate
    /// Conflicts with a stored batch of the same author (same first counter with another hash, or
    /// overlapping counters): kept as fork evidence, not applied.
    case fork
    /// Starts after the author's next counter (`expected`): rejected, earlier batches are missing.
    case gap(expected: UInt32)
    /// Malformed (no ops, a hash that is not 32 bytes, counters past `UInt32.max`): rejected.
    case invalid(reason: String)

    /// A stable, machine-readable name.
    public var code: String {
        switch self {
        case .stored: "stored"
        case .duplicate: "duplicate"
        case .fork: "fork"
        case .gap: "gap"
        case .invalid: "invalid"
        }
    }

    public var description: String {
        switch self {
        case .stored, .duplicate, .fork: code
        case .gap(let expected): "gap (expected first counter \(expected))"
        case .invalid(let reason): "invalid (\(reason))"
        }
    }
}

/// The result of `ChatStore.append`: one outcome per batch, in the order given.
public struct AppendResult: Sendable, Hashable {
    /// `outcomes[i]` is what happened to the i-th batch.
    public var outcomes: [BatchOutcome]

    /// Creates a result.
    public init(outcomes: [BatchOutcome]) { self.outcomes = outcomes }

    /// The number of batches newly stored.
    public var storedCount: Int { outcomes.count { $0 == .stored } }
    /// The number of batches skipped as already stored.
    public var duplicateCount: Int { outcomes.count { $0 == .duplicate } }
    /// The number of batches kept as fork evidence.
    public var forkCount: Int { outcomes.count { $0 == .fork } }
    /// The number of batches rejected because earlier ones are missing.
    public var gapCount: Int { outcomes.count { if case .gap = $0 { true } else { false } } }
    /// The number of malformed batches rejected.
    public var invalidCount: Int { outcomes.count { if case .invalid = $0 { true } else { false } } }
}
