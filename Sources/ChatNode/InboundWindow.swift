import Synchronization

/// Bounds the bytes of one connection that were read from the socket and not yet handled by the
/// node: the reader reserves before it passes bytes on and waits while the window is full; the
/// node releases once it has handled what the bytes carried.
///
/// While the reader waits it stops pulling from the channel, so NIO's inbound buffer fills and
/// NIO stops reading the socket (`NIOAsyncChannel`'s high-watermark back-pressure); TCP then
/// pushes back on the sender. One reservation larger than the whole window still passes when the
/// window is empty, so a frame of any allowed size gets through.
public final class InboundWindow: Sendable {
    /// The most bytes in flight, beyond one oversized reservation.
    public let limit: Int

    private struct State {
        var inUse = 0
        var peak = 0
        var closed = false
        var waiters: [(bytes: Int, resume: CheckedContinuation<Void, Never>)] = []

        mutating func take(_ bytes: Int) {
            inUse += bytes
            peak = max(peak, inUse)
        }
    }

    private let state = Mutex(State())

    /// A window of `limit` bytes (at least 1).
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Bytes reserved and not yet released.
    public var inUse: Int { state.withLock { $0.inUse } }

    /// The most bytes that were ever in use at once.
    public var peak: Int { state.withLock { $0.peak } }

    /// Waits until `bytes` fit (or the window is empty, or closed, or the task is cancelled,
    /// which closes it), then takes them.
    /// - Complexity: O(1) when they fit at once.
    public func reserve(_ bytes: Int) async {
        let taken = state.withLock { state -> Bool in
            guard state.closed || (state.waiters.isEmpty && Self.fits(bytes, in: state, limit: limit)) else { return false }
            state.take(bytes)
            return true
        }
        if taken { return }
        // A cancelled connection task is being torn down: it closes the window, so it never waits
        // on a consumer that has stopped.
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.closed || (state.waiters.isEmpty && Self.fits(bytes, in: state, limit: limit)) {
                        state.take(bytes)
                        return true
                    }
                    state.waiters.append((bytes, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            close()
        }
    }

    /// Gives `bytes` back and wakes the waiters that now fit, in order.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inUse = max(0, state.inUse - bytes)
            var ready: [CheckedContinuation<Void, Never>] = []
            while let first = state.waiters.first, Self.fits(first.bytes, in: state, limit: limit) {
                state.waiters.removeFirst()
                state.take(first.bytes)
                ready.append(first.resume)
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// The connection is over: every waiter goes on, and later reservations never wait.
    public func close() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.map(\.resume)
        }
        for continuation in waiters { continuation.resume() }
    }

    private static func fits(_ bytes: Int, in state: State, limit: Int) -> Bool {
        state.inUse == 0 || state.inUse + bytes <= limit
    }
}
