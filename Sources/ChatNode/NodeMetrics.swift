import Metrics

/// The node's metrics, in swift-metrics. Nothing is recorded unless the process bootstraps a
/// backend: `streamingchat serve` bootstraps swift-prometheus and its HTTP API exports the text
/// format on `/metrics`. Handles are made once, on first use, from the bootstrapped factory.
enum NodeMetrics {
    /// Authenticated peer sessions open now.
    static let sessions = Gauge(label: "streamingchat_sessions")
    /// Batches stored and applied (local and from peers).
    static let batchesIngested = Counter(label: "streamingchat_batches_ingested_total")
    /// Operations applied, and excluded by the rules.
    static let operationsApplied = Counter(label: "streamingchat_operations_applied_total")
    static let operationsExcluded = Counter(label: "streamingchat_operations_excluded_total")
    /// The durable commit of one group of batches (an fsync'd LMDB transaction).
    static let commitDuration = Timer(label: "streamingchat_commit_duration_seconds", preferredDisplayUnit: .seconds)
    /// Reading stored batches to catch a peer up (one request's worth).
    static let catchUpDuration = Timer(label: "streamingchat_catch_up_duration_seconds", preferredDisplayUnit: .seconds)
    /// Bytes read from and written to peer sockets (sealed frames).
    static let frameBytesIn = Counter(label: "streamingchat_frame_bytes_total", dimensions: [("direction", "in")])
    static let frameBytesOut = Counter(label: "streamingchat_frame_bytes_total", dimensions: [("direction", "out")])

    /// Batches refused, by reason code (``BatchRejection``'s codes). O(1) after the first of a code.
    static func batchesRejected(_ reason: String) -> Counter {
        Counter(label: "streamingchat_batches_rejected_total", dimensions: [("reason", reason)])
    }

    /// Bytes of out-of-order batches one conversation holds (bounded per conversation).
    static func pendingBytes(_ conversation: String) -> Gauge {
        Gauge(label: "streamingchat_pending_bytes", dimensions: [("conversation", String(conversation.prefix(16)))])
    }
}
