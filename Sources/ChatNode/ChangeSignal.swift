import Synchronization

/// A revision counter that control clients wait on (long polling): a node bumps it with every
/// event (see ``NodeEventSink``), so the chat redraws as soon as a message, edit, member change
/// or typing update arrives instead of polling on a timer.
public final class ChangeSignal: Sendable {
    private struct State {
        var revision: UInt64 = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The current revision.
    public var revision: UInt64 { state.withLock { $0.revision } }

    /// How many waiters are suspended now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Records a change and wakes every waiter.
    public func bump() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.revision &+= 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns the revision once it differs from `after` (it moved on; or the node restarted and
    /// counts from 0 again), or when `timeout` has passed on `clock`, or when the task is
    /// cancelled, whichever comes first.
    public func wait<C: Clock>(after: UInt64, timeout: Duration, clock: C = ContinuousClock()) async -> UInt64
    where C.Duration == Duration {
        guard revision == after else { return revision }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.nextBump(after: after) }
            group.addTask { try? await clock.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return revision
    }

    /// Suspends until the revision differs from `after` (or cancellation).
    private func nextBump(after: UInt64) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    // Already bumped, or cancelled before registering: do not wait.
                    if state.revision != after || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
