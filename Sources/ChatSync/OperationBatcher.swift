import ChatCore
import ChatWire

/// Coalesces local operations into batches, so a burst of keystrokes costs one signature.
///
/// A batch is sealed when it holds `maxOperations` operations, `maxIDs` ids or `maxBytes` bytes of
/// encoded operations, or when `flushInterval` has passed since its first operation. With the
/// default 512 KiB and operations of at most 64 KiB of text, every batch fits the wire's 1 MiB
/// batch limit with room for its clock. Pure: the caller passes the time in and
/// acts on the returned decision (seal now, or schedule a flush).
public struct OperationBatcher: Sendable {
    /// When to seal a batch.
    public struct Policy: Sendable, Hashable {
        public var maxOperations: Int
        public var maxIDs: UInt64
        public var flushInterval: Duration
        /// Encoded operation bytes (``ConversationOp/encodedByteCount``) that seal a batch.
        public var maxBytes: Int

        /// Up to 256 operations, 4,096 ids or 512 KiB, or 50 ms after the first operation.
        public static let `default` = Policy(maxOperations: 256, maxIDs: 4096, flushInterval: .milliseconds(50))

        public init(maxOperations: Int, maxIDs: UInt64, flushInterval: Duration, maxBytes: Int = 512 << 10) {
            self.maxOperations = max(1, maxOperations)
            self.maxIDs = max(1, maxIDs)
            self.flushInterval = flushInterval
            self.maxBytes = max(1, maxBytes)
        }
    }

    /// What the caller should do after adding an operation.
    public enum Decision: Sendable, Hashable {
        /// Seal the batch now (call ``drain()``).
        case sealNow
        /// Seal at this instant unless it fills up first (schedule a timer; only for the first op).
        case sealAt(Duration)
        /// Nothing to do: a flush is already scheduled.
        case wait
    }

    public let policy: Policy
    public private(set) var pending: [ConversationOp] = []
    private var pendingIDs: UInt64 = 0
    private var pendingBytes = 0
    private var deadline: Duration?

    public init(policy: Policy = .default) { self.policy = policy }

    /// Adds a local operation made at `now` (a monotonic instant, as a duration since any origin).
    public mutating func add(_ op: ConversationOp, now: Duration) -> Decision {
        pending.append(op)
        pendingIDs += UInt64(op.idCount)
        pendingBytes += op.encodedByteCount
        if pending.count >= policy.maxOperations || pendingIDs >= policy.maxIDs || pendingBytes >= policy.maxBytes {
            return .sealNow
        }
        if let deadline {
            return now >= deadline ? .sealNow : .wait
        }
        let due = now + policy.flushInterval
        deadline = due
        return .sealAt(due)
    }

    /// True when a scheduled flush at `now` should seal.
    public func isDue(now: Duration) -> Bool {
        guard let deadline else { return false }
        return now >= deadline && !pending.isEmpty
    }

    /// Takes the pending operations (the content of the next batch) and resets.
    public mutating func drain() -> [ConversationOp] {
        defer {
            pending = []
            pendingIDs = 0
            pendingBytes = 0
            deadline = nil
        }
        return pending
    }
}
