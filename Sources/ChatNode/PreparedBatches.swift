import ChatSync
import ChatWire

/// Signature checks started for a frame of batches as soon as it is read, so they run on the
/// other cores while the frame before it commits (store and apply on the conversation's actor).
/// Only for frames of many batches: those are catch-up, nearly all new to this node; the few
/// batches of an eager push are mostly copies already stored, which need no check at all.
struct PreparedBatches: Sendable {
    /// Frames of at least this many batches are checked ahead.
    static let minimumBatches = 32

    let batches: [[UInt8]]
    let results: Task<[Result<AuthenticatedBatch, BatchRejection>], Never>

    /// Starts checking `frame`'s batches when it is a large `batches` frame; nil otherwise.
    static func start(for frame: DataFrame, limits: WireLimits) -> PreparedBatches? {
        guard case .batches(_, let batches) = frame, batches.count >= minimumBatches else { return nil }
        return PreparedBatches(batches: batches,
                               results: Task.detached { await ConversationReplica.authenticate(batches, limits: limits) })
    }
}

extension PreparedBatches {
    /// `events`, each `batches` frame with its signature checks started as it is read, ahead of
    /// the frames still being handled (bounded by the session's inbound window, which is released
    /// only once a frame is handled).
    static func staged(_ events: AsyncStream<PeerEvent>, limits: WireLimits) -> AsyncStream<(PeerEvent, PreparedBatches?)> {
        let (staged, sink) = AsyncStream<(PeerEvent, PreparedBatches?)>.makeStream()
        let staging = Task.detached {
            for await event in events {
                var prepared: PreparedBatches?
                if case .received(let frame, _) = event { prepared = start(for: frame, limits: limits) }
                sink.yield((event, prepared))
            }
            sink.finish()
        }
        sink.onTermination = { _ in staging.cancel() }
        return staged
    }
}
