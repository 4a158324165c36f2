import ChatControl
import ChatCore
import ChatNode
import Foundation
import Testing

/// The change revision control clients long-poll on.
@Suite(.timeLimit(.minutes(1))) struct ChangeSignalTests {
    @Test func waitersWakeOnABumpOrTheirTimeout() async {
        let signal = ChangeSignal()
        #expect(signal.revision == 0)
        // Already past: no waiting.
        signal.bump()
        #expect(await signal.wait(after: 0, timeout: .seconds(30)) == 1)
        // A client that saw a larger revision (the node restarted and counts from 0): no waiting.
        #expect(await signal.wait(after: 7, timeout: .seconds(30)) == 1)
        // Woken by a bump, long before its 30 s timeout.
        let clock = ContinuousClock()
        let start = clock.now
        async let woken = signal.wait(after: 1, timeout: .seconds(30))
        while signal.waiting == 0 { try? await Task.sleep(for: .milliseconds(1)) }
        signal.bump()
        #expect(await woken == 2)
        #expect(clock.now - start < .seconds(15))
        #expect(signal.waiting == 0)
        // Nothing happens: the timeout (an hour, on a clock whose sleeps end at once) answers
        // with the same revision.
        let now = signal.revision
        #expect(await signal.wait(after: now, timeout: .seconds(3600), clock: ImmediateClock()) == now)
        #expect(signal.waiting == 0)
    }

    /// A clock whose sleeps return at once: timeouts without real waiting.
    struct ImmediateClock: Clock {
        struct Instant: InstantProtocol {
            var offset: Duration
            func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
            func duration(to other: Instant) -> Duration { other.offset - offset }
            static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        }
        var now: Instant { Instant(offset: .zero) }
        var minimumResolution: Duration { .nanoseconds(1) }
        func sleep(until deadline: Instant, tolerance: Duration?) async throws { try Task.checkCancellation() }
    }

    @Test func aCancelledWaitReturns() async {
        let signal = ChangeSignal()
        let waiting = Task { await signal.wait(after: 0, timeout: .seconds(30)) }
        while signal.waiting == 0 { try? await Task.sleep(for: .milliseconds(1)) }
        waiting.cancel()
        #expect(await waiting.value == 0)
        #expect(signal.waiting == 0)
    }

    /// `chat-state` with `after` answers once the node's revision moves (or at `wait`).
    @Test func chatStateLongPolls() async throws {
        let (ana, directory) = try NodeTests.makeNode(95, name: "ana")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let conversation = try await ana.commands.create(title: "poll")
        func state(_ arguments: [String: String]) async throws -> ChatState {
            let response = await NodeChatControl.handle(
                ControlRequest(command: "chat-state", arguments: arguments.merging(["conversation": conversation.hex]) { $1 }),
                node: ana)
            return try #require(response?.result).decoded(as: ChatState.self)
        }
        let first = try await state([:])
        // Nothing changes: answered at `wait` with the same revision.
        #expect(try await state(["after": String(first.revision), "wait": "30"]).revision == first.revision)
        // A change during the wait answers it, long before the 10 s the poll would otherwise wait.
        let clock = ContinuousClock()
        let start = clock.now
        async let polled = state(["after": String(first.revision), "wait": "10000"])
        while ana.changes.waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        ana.changes.bump()
        #expect(try await polled.revision == first.revision + 1)
        #expect(clock.now - start < .seconds(8))
        let refused = await NodeChatControl.handle(
            ControlRequest(command: "chat-state", arguments: ["conversation": conversation.hex, "after": "soon"]), node: ana)
        #expect(refused?.ok == false)
        await ana.stop()
    }
}
