/// One message: an element of the conversation's message list with its own text CRDT.
public struct MessageRecord: Sendable {
    /// The message id (the id of the operation that posted it).
    public let id: OpID
    public var author: ReplicaID { id.replica }
    /// The author's signed timestamp of the batch that posted it (ms since the Unix epoch).
    public var postedAt: UInt64 { stored.postedAt }
    /// The body, which members with the right permission can edit together.
    public var body: MessageBody { stored.body }
    /// True once any edit to the body has been applied.
    public var isEdited: Bool { stored.isEdited }
    /// True once the message was deleted (its tombstone stays in the list).
    public var isDeleted: Bool { stored.isDeleted }

    let stored: StoredMessage
}

/// A message as the table keeps it: its id is the key.
struct StoredMessage: Sendable {
    var postedAt: UInt64
    var body: MessageBody
    var isEdited = false
    var isDeleted = false
}

/// The messages of a conversation by id. A message's id is its key only, not repeated in what
/// the table stores (a 40-byte id would more than double each entry: the table holds the
/// bulk of a long conversation's memory with the bodies).
public struct MessageTable: Sendable {
    private var storage: [OpID: StoredMessage] = [:]

    /// The message with id `id`.
    /// - Complexity: O(1) expected.
    public subscript(id: OpID) -> MessageRecord? {
        storage[id].map { MessageRecord(id: id, stored: $0) }
    }

    /// How many messages, deleted ones included.
    public var count: Int { storage.count }

    /// Every message id, in no particular order.
    public var keys: some Collection<OpID> { storage.keys }

    /// Every message, in no particular order.
    public var values: some Collection<MessageRecord> {
        storage.lazy.map { MessageRecord(id: $0.key, stored: $0.value) }
    }

    /// What `read` finds in the body of message `id` (nil when there is none), without copying
    /// the record or a live body.
    /// - Complexity: O(1) expected, plus `read`.
    public func readingBody<Result>(of id: OpID, _ read: (borrowing SequenceCRDT<Unicode.Scalar>) -> Result) -> Result? {
        guard let index = storage.index(forKey: id) else { return nil }
        return storage.values[index].body.reading(read)
    }

    /// True when `id` is a message here.
    public func contains(_ id: OpID) -> Bool { storage[id] != nil }

    mutating func insert(_ message: StoredMessage, for id: OpID) {
        storage[id] = message
    }

    mutating func reserveCapacity(_ count: Int) {
        storage.reserveCapacity(count)
    }

    /// Changes the message `id` in place (no copy of its body); nil when there is none.
    mutating func update<Result, Failure: Error>(
        _ id: OpID, _ change: (inout StoredMessage) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        guard let index = storage.index(forKey: id) else { return nil }
        return try change(&storage.values[index])
    }
}
