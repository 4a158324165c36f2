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
