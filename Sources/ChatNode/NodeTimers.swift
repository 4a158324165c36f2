/// One-shot timers on the node's clock, by key. Each is a task that sleeps for its delay and then
/// calls back, unless cancelled first; arming a key again replaces its timer.
struct NodeTimers<Key: Hashable & Sendable>: Sendable {
    private var tasks: [Key: Task<Void, Never>] = [:]

    /// Calls `fire` after `delay` on `clock`, replacing the timer `key` had.
    mutating func arm(_ key: Key, after delay: Duration, on clock: NodeClock,
                      _ fire: @escaping @Sendable () async -> Void) {
        tasks[key]?.cancel()
        tasks[key] = Task {
            do { try await clock.sleep(for: delay) } catch { return }
            await fire()
        }
    }

    /// Cancels the timer of `key`.
    mutating func cancel(_ key: Key) {
        tasks.removeValue(forKey: key)?.cancel()
    }

    /// Forgets the timer of `key`, which fired (its callback runs in that task: not cancelled).
    mutating func fired(_ key: Key) {
        tasks[key] = nil
    }

    /// Cancels every timer.
    mutating func cancelAll() {
        for task in tasks.values { task.cancel() }
        tasks = [:]
    }
}
