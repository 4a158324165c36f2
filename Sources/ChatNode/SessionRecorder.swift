import ChatCore
import ChatStore
import Synchronization

/// Writes a node's peer-session records (for the audit trail) to the store in the order they
/// happen, on a dispatch queue of its own: an LMDB commit waits for fsync, which must not stall
/// the node (or, on Swift's cooperative pool, every other task of the process).
///
/// ``record(_:)`` never blocks; ``flush()`` waits until everything recorded so far is stored, and
/// ``close()`` until the last record is written.
final class SessionRecorder: Sendable {
    private let store: ChatStore
    private let writer: Writer
    private let sink: AsyncStream<[ConversationSessionRecord]>.Continuation
    private let draining: Task<Void, Never>

    /// A store failure is reported to `events` as an `error` event.
    init(store: ChatStore, events: NodeEventSink) {
        let onFailure: @Sendable (StoreError) -> Void = { error in
            events.yield(.error(code: "store:\(error.code)", message: "could not record a peer session for the audit trail: \(error)"))
        }
        self.store = store
        let writer = Writer(store: store, onFailure: onFailure)
        let (stream, sink) = AsyncStream<[ConversationSessionRecord]>.makeStream()
        self.writer = writer
        self.sink = sink
        draining = Task { for await records in stream { await writer.write(records) } }
    }

    /// Queues records for writing (in order).
    func record(_ records: [ConversationSessionRecord]) {
        guard !records.isEmpty else { return }
        writer.queued.add(1)
        if case .terminated = sink.yield(records) { writer.queued.add(-1) }
    }

    /// Records a session with `peer` starting or ending, once per conversation it carried (the
    /// store keeps the newest 10,000 per conversation).
    func record(_ peer: ReplicaID, at wallClock: UInt64, connected: Bool, conversations: [ConversationID]) {
        let session = PeerSessionRecord(peer: peer, at: wallClock, connected: connected)
        record(Set(conversations).sorted().map { ConversationSessionRecord(conversation: $0, session: session) })
    }

    /// The stored session records of `conversation`, oldest first, once every record queued so
    /// far is written (records that do not decode are counted in the page, not returned).
    func records(of conversation: ConversationID) async throws(StoreError) -> SessionRecordPage {
        await flush()
        return try store.sessionRecords(of: conversation)
    }

    /// Returns once every record queued before the call is stored (or failed).
    func flush() async {
        await writer.waitUntilWritten(writer.queued.value)
    }

    /// Stops taking records and returns once the queued ones are written.
    func close() async {
        sink.finish()
        await draining.value
        await writer.close()
    }

    /// The store side, one write at a time on its own queue.
    private actor Writer {
        private let executor = StorageExecutor(label: "streamingchat.sessions")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        private let store: ChatStore
        private let onFailure: @Sendable (StoreError) -> Void
        /// Batches queued (counted by the caller) and written.
        nonisolated let queued = QueuedCount()
        private var written = 0
        private var isClosed = false
        private var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []

        init(store: ChatStore, onFailure: @escaping @Sendable (StoreError) -> Void) {
            self.store = store
            self.onFailure = onFailure
        }

        func write(_ records: [ConversationSessionRecord]) {
            do { try store.appendSessionRecords(records) } catch { onFailure(error) }
            written += 1
            let ready = waiters.filter { $0.target <= written }
            waiters.removeAll { $0.target <= written }
            for waiter in ready { waiter.continuation.resume() }
        }

        /// After the last write: no one waits any more.
        func close() {
            isClosed = true
            for waiter in waiters { waiter.continuation.resume() }
            waiters = []
        }

        func waitUntilWritten(_ target: Int) async {
            guard written < target, !isClosed else { return }
            await withCheckedContinuation { waiters.append((target, $0)) }
        }
    }
}

/// A counter shared between the recording side and the writer.
final class QueuedCount: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ amount: Int) { count.add(amount, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
