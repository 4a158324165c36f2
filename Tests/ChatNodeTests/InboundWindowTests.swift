import ChatNode
import Synchronization
import Testing

/// The window under each connection (issue 15, item 5): reservations wait while it is full, in
/// order; an oversized one passes alone; closing or cancelling never leaves anyone waiting.
@Suite(.timeLimit(.minutes(1))) struct InboundWindowTests {
    @Test func aFullWindowMakesTheNextReservationWaitUntilARelease() async throws {
        let window = InboundWindow(limit: 100)
        await window.reserve(60)
        await window.reserve(40)
        let passed = Mutex(false)
        let waiting = Task {
            await window.reserve(30)
            passed.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(!passed.withLock { $0 } && window.inUse == 100)
        window.release(60)
        await waiting.value
        #expect(passed.withLock { $0 } && window.inUse == 70 && window.peak == 100)
    }

    @Test func anOversizedReservationPassesWhenTheWindowIsEmpty() async {
        let window = InboundWindow(limit: 10)
        await window.reserve(1_000)
        #expect(window.inUse == 1_000)
        window.release(1_000)
        #expect(window.inUse == 0)
    }

    @Test func cancellingAWaiterClosesTheWindowAndFreesEveryone() async {
        let window = InboundWindow(limit: 10)
        await window.reserve(10)
        let first = Task { await window.reserve(5) }
        let second = Task { await window.reserve(5) }
        try? await Task.sleep(for: .milliseconds(20))
        first.cancel()
        await first.value
        await second.value
        await window.reserve(1_000) // closed: never waits again
    }
}
