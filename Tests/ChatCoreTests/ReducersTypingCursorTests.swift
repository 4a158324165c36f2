import ChatCore
import Testing

@Suite struct ReducerTypingTests {
    typealias F = ReducerFixture

    func typing(_ actions: [ConversationViewAction]) -> TypingState {
        var state = TypingState(localUser: F.me)
        state.reduce(contentsOf: actions)
        return state
    }

    @Test func theThreeForms() {
        let t: UInt64 = 10_000
        var state = typing([])
        #expect(state.typingLine(now: t) == nil)
        state.reduce(.userStartedTyping(F.ana, displayName: "Ana", at: t))
        #expect(state.typingLine(now: t) == "Ana is typing…")
        state.reduce(.userStartedTyping(F.ben, displayName: "Ben", at: t + 100))
        #expect(state.typingLine(now: t + 100) == "Ana and Ben are typing…")
        state.reduce(.userStartedTyping(F.cai, displayName: "Cai", at: t + 200))
        #expect(state.typingLine(now: t + 200) == "3 people are typing…")
        state.reduce(.userStartedTyping(F.dan, displayName: "Dan", at: t + 300))
        #expect(state.typingLine(now: t + 300) == "4 people are typing…")
        #expect(TypingState.typingLine(names: ["X", "Y"]) == "X and Y are typing…")
    }

    @Test func orderIsWhoStartedFirstAndARestartAfterExpiryStartsAgain() {
        var state = typing([.userStartedTyping(F.ben, displayName: "Ben", at: 1_000),
                            .userStartedTyping(F.ana, displayName: "Ana", at: 2_000),
                            .userStartedTyping(F.ben, displayName: "Ben", at: 2_500)])
        #expect(state.typingLine(now: 2_500) == "Ben and Ana are typing…", "continued typing keeps its start")
        state.reduce(.userStartedTyping(F.ben, displayName: "Ben", at: 6_000))
        #expect(state.entries[F.ben]?.startedAt == 6_000, "Ben's first run had expired at 5.5 s")
        state.reduce(.userStartedTyping(F.ana, displayName: "Ana", at: 6_000))
        #expect(state.entries[F.ana]?.startedAt == 6_000)
        #expect(state.typingLine(now: 6_000) == "Ana and Ben are typing…", "same start: by name")
    }

    @Test func neverTheLocalUser() {
        let state = typing([.userStartedTyping(F.me, displayName: "Me", at: 1_000),
                            .userStartedTyping(F.ana, displayName: "Ana", at: 1_000)])
        #expect(state.entries[F.me] == nil)
        #expect(state.typingLine(now: 1_000) == "Ana is typing…")
        #expect(ReducerFixture.view([.userStartedTyping(F.me, displayName: "Me", at: 1)]).typingLine(now: 1) == nil)
    }

    @Test func expiresThreeSecondsAfterTheLastUpdate() {
        var state = typing([.userStartedTyping(F.ana, displayName: "Ana", at: 10_000)])
        #expect(state.typingLine(now: 12_999) == "Ana is typing…")
        #expect(state.typingLine(now: 13_000) == nil)
        state.reduce(.userStartedTyping(F.ana, displayName: "Ana", at: 12_000))
        #expect(state.typingLine(now: 14_999) == "Ana is typing…", "an update extends it")
        #expect(state.typingLine(now: 15_000) == nil)
        #expect(state.nextExpiry(now: 12_000) == 15_000)
        #expect(state.nextExpiry(now: 15_000) == nil)
    }

    @Test func typingTimeoutRemovesOnlyStaleEntries() {
        var state = typing([.userStartedTyping(F.ana, displayName: "Ana", at: 10_000)])
        state.reduce(.typingTimeout(F.ana, now: 12_999))
        #expect(state.entries[F.ana] != nil, "not yet 3 s")
        state.reduce(.userStartedTyping(F.ana, displayName: "Ana", at: 12_000))
        state.reduce(.typingTimeout(F.ana, now: 13_000))
        #expect(state.entries[F.ana] != nil, "a timer set for the first update does not end the second")
        state.reduce(.typingTimeout(F.ana, now: 15_000))
        #expect(state.entries[F.ana] == nil)
        state.reduce(.typingTimeout(F.ben, now: 15_000))
        #expect(state.entries.isEmpty, "a timeout for nobody is harmless")
    }

    @Test func stopMessageLeaveAndRename() {
        var state = typing([.userStartedTyping(F.ana, displayName: "Ana", at: 5_000),
                            .userStartedTyping(F.ben, displayName: "Ben", at: 5_000)])
        state.reduce(.userStoppedTyping(F.ana, at: 4_000))
        #expect(state.entries[F.ana] != nil, "an older stop does not end newer typing")
        state.reduce(.userStoppedTyping(F.ana, at: 5_000))
        #expect(state.entries[F.ana] == nil)

        state.reduce(.userUpdated(F.ben, profile: Profile(displayName: "Benjamin")))
        #expect(state.typingLine(now: 5_000) == "Benjamin is typing…")
        state.reduce(.messageReceived(MessageSnapshot(id: OpID(replica: F.ben, counter: 1), text: "old", postedAt: 1_000)))
        #expect(state.entries[F.ben] != nil, "an older message (history) does not end typing")
        state.reduce(.messageReceived(MessageSnapshot(id: OpID(replica: F.ben, counter: 2), text: "new", postedAt: 5_100)))
        #expect(state.entries[F.ben] == nil, "sending ends typing")

        state.reduce(.userStartedTyping(F.cai, displayName: "Cai", at: 6_000))
        state.reduce(.userLeft(F.cai))
        #expect(state.entries.isEmpty)
    }
}

@Suite struct ReducerCursorTests {
    typealias F = ReducerFixture

    func cursors(_ actions: [ConversationViewAction]) -> CursorState {
        var state = CursorState(localUser: F.me)
        state.reduce(contentsOf: actions)
        return state
    }

    static func at(_ top: Double, _ height: Double, _ viewport: Double) -> CursorPosition {
        CursorPosition(scrollTop: top, scrollHeight: height, viewportHeight: viewport)
    }

    @Test(arguments: [
        (ReducerCursorTests.at(0, 2_000, 1_000), 0.0),
        (ReducerCursorTests.at(500, 2_000, 1_000), 0.5),
        (ReducerCursorTests.at(1_000, 2_000, 1_000), 1.0),
        (ReducerCursorTests.at(1_500, 2_000, 1_000), 1.0),     // past the end: clamped
        (ReducerCursorTests.at(-40, 2_000, 1_000), 0.0),       // overscroll at the top: clamped
        (ReducerCursorTests.at(0, 0, 0), 0.0),                 // zero heights
        (ReducerCursorTests.at(10, 0, 0), 1.0),                // zero heights, divided by 1, clamped
        (ReducerCursorTests.at(0.5, 500, 500), 0.5),           // content fits the viewport: divided by 1
        (ReducerCursorTests.at(100, 300, 800), 1.0),           // viewport taller than content
        (ReducerCursorTests.at(.nan, 2_000, 1_000), 0.0),
        (ReducerCursorTests.at(.infinity, 2_000, 1_000), 0.0),
        (ReducerCursorTests.at(500, .infinity, 1_000), 0.0),
    ])
    func relativePosition(position: CursorPosition, expected: Double) {
        #expect(position.relativePosition == expected, "\(position)")
    }

    @Test func hiddenThirtySecondsAfterTheLastUpdate() {
        var state = cursors([.cursorMoved(F.ana, position: Self.at(500, 2_000, 1_000), at: 1_000)])
        #expect(state.visibleCursors(now: 30_999).map(\.user) == [F.ana])
        #expect(state.visibleCursors(now: 31_000).isEmpty)
        #expect(state.jumpTarget(to: F.ana, now: 31_000, localScrollHeight: 5_000, localViewportHeight: 1_000) == nil)
        #expect(state.nextExpiry(now: 1_000) == 31_000)
        state.reduce(.cursorFocusChanged(F.ana, message: nil, at: 20_000))
        #expect(state.visibleCursors(now: 49_999).map(\.user) == [F.ana], "a focus change counts as an update")
        #expect(state.visibleCursors(now: 50_000).isEmpty)
    }

    @Test func neverTheLocalUserAndInKeyOrder() {
        let state = cursors([.cursorMoved(F.ben, position: Self.at(0, 10, 5), at: 1),
                             .cursorMoved(F.me, position: Self.at(0, 10, 5), at: 1),
                             .cursorFocusChanged(F.me, message: nil, at: 1),
                             .cursorMoved(F.ana, position: Self.at(0, 10, 5), at: 1)])
        #expect(state.visibleCursors(now: 1).map(\.user) == [F.ana, F.ben])
        #expect(state.entries[F.me] == nil)
    }

    @Test func inactiveLeftAndOlderUpdates() {
        var state = cursors([.cursorMoved(F.ana, position: Self.at(500, 2_000, 1_000), at: 5_000),
                             .cursorMoved(F.ben, position: Self.at(0, 2_000, 1_000), at: 5_000)])
        state.reduce(.cursorMoved(F.ana, position: Self.at(0, 2_000, 1_000), at: 4_000))
        #expect(state.entries[F.ana]?.position.relativePosition == 0.5, "an older move is ignored")
        state.reduce(.cursorInactive(F.ana, at: 4_999))
        #expect(state.entries[F.ana] != nil, "inactive before the last move: ignored")
        state.reduce(.cursorInactive(F.ana, at: 6_000))
        #expect(state.entries[F.ana] == nil)
        state.reduce(.userLeft(F.ben))
        #expect(state.entries.isEmpty)
    }

    @Test func focusAndJumpTarget() {
        let message = OpID(replica: F.ben, counter: 4)
        var state = cursors([.cursorMoved(F.ana, position: Self.at(500, 2_000, 1_000), at: 1_000)])
        #expect(state.jumpTarget(to: F.ana, now: 1_000, localScrollHeight: 3_000, localViewportHeight: 1_000)
                == .scrollOffset(1_000), "half-way down our own 2000 px of scroll range")
        #expect(state.jumpTarget(to: F.ana, now: 1_000, localScrollHeight: 800, localViewportHeight: 1_000)
                == .scrollOffset(0), "nothing to scroll locally")
        #expect(state.jumpTarget(to: F.ben, now: 1_000, localScrollHeight: 3_000, localViewportHeight: 1_000) == nil)

        state.reduce(.cursorFocusChanged(F.ana, message: message, at: 2_000))
        #expect(state.entries[F.ana]?.position.relativePosition == 0.5, "focus keeps the position")
        #expect(state.jumpTarget(to: F.ana, now: 2_000, localScrollHeight: 3_000, localViewportHeight: 1_000)
                == .message(message))
        state.reduce(.cursorMoved(F.ana, position: Self.at(1_000, 2_000, 1_000), at: 3_000))
        #expect(state.entries[F.ana]?.focusedMessage == message, "a move keeps the focus")
        state.reduce(.messageReceived(MessageSnapshot(id: message, text: "", postedAt: 1, isDeleted: true)))
        #expect(state.entries[F.ana]?.focusedMessage == nil, "a deleted message loses the focus")
        #expect(state.jumpTarget(to: F.ana, now: 3_000, localScrollHeight: 3_000, localViewportHeight: 1_000)
                == .scrollOffset(2_000))

        let focusOnly = cursors([.cursorFocusChanged(F.cai, message: message, at: 1)])
        #expect(focusOnly.jumpTarget(to: F.cai, now: 1, localScrollHeight: 3_000, localViewportHeight: 1_000)
                == .message(message), "a focus without a move yet")
    }

    @Test func liveCursorRowsAndTheViewsJumpTarget() {
        let shown = OpID(replica: F.ben, counter: 4), unknown = OpID(replica: F.ben, counter: 99)
        var state = ReducerFixture.view([
            F.joined(F.ana, "Ana"), F.joined(F.ben, "Ben"),
            .messageReceived(MessageSnapshot(id: shown, text: "hi", postedAt: 1)),
            .cursorMoved(F.ana, position: Self.at(250, 1_500, 500), at: 1_000),
            .cursorFocusChanged(F.ana, message: shown, at: 1_000),
            .cursorMoved(F.ben, position: Self.at(0, 1_500, 500), at: 500),
        ])
        let rows = state.liveCursors(now: 1_000)
        #expect(rows.map(\.displayName) == ["Ana", "Ben"])
        #expect(rows.map(\.relativePosition) == [0.25, 0])
        #expect(rows.map(\.color) == [state.users.color(of: F.ana), state.users.color(of: F.ben)])
        #expect(rows[0].focusedMessage == shown)
        #expect(state.liveCursors(now: 30_500).map(\.displayName) == ["Ana"])
        #expect(state.jumpTarget(to: F.ana, now: 1_000, localScrollHeight: 2_500, localViewportHeight: 500) == .message(shown))
        state.reduce(.cursorFocusChanged(F.ana, message: unknown, at: 1_001))
        #expect(state.jumpTarget(to: F.ana, now: 1_001, localScrollHeight: 2_500, localViewportHeight: 500)
                == .scrollOffset(500), "a message this view does not show: its scroll position instead")
    }
}
