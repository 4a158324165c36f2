import ChatCore
import Testing

@Suite struct ReducerPresenceTests {
    typealias F = ReducerFixture
    let t0: UInt64 = 1_700_000_000_000

    func presence(_ actions: [ConversationViewAction]) -> PresenceState {
        var state = PresenceState(localUser: F.me)
        state.reduce(contentsOf: actions)
        return state
    }

    /// Heartbeats from `user` every 30 s in `range` (offsets from t0), as a connected peer sends them.
    func heartbeats(_ user: ReplicaID, _ range: StrideThrough<UInt64>) -> [ConversationViewAction] {
        range.map { .heartbeatSent(user, at: t0 + $0) }
    }

    @Test func neverSeenIsOffline() {
        let state = presence([])
        #expect(state.status(of: F.ana, now: t0) == .offline)
        #expect(state.lastSeenText(of: F.ana, now: t0) == "offline")
    }

    @Test func autoAwayAtExactlyFiveMinutes() {
        var state = presence([.userActivityDetected(F.ana, at: t0)]
                             + heartbeats(F.ana, stride(from: 30_000, through: 300_000, by: 30_000)))
        #expect(state.status(of: F.ana, now: t0 + 299_999) == .online)
        #expect(state.status(of: F.ana, now: t0 + 300_000) == .away)
        #expect(state.lastSeenText(of: F.ana, now: t0 + 300_000) == "online", "away users are connected")
        state.reduce(.userActivityDetected(F.ana, at: t0 + 310_000))
        #expect(state.status(of: F.ana, now: t0 + 310_000) == .online, "activity brings her back")
        #expect(state.status(of: F.ana, now: t0 + 609_999) == .offline, "but heartbeats stopped at 300 s")
    }

    @Test func typingAndScrollingAreActivity() {
        let start = presence([.userActivityDetected(F.ana, at: t0)]
                             + heartbeats(F.ana, stride(from: 30_000, through: 330_000, by: 30_000)))
        for action in [ConversationViewAction.userStartedTyping(F.ana, displayName: "Ana", at: t0 + 200_000),
                       .cursorMoved(F.ana, position: CursorPosition(scrollTop: 0, scrollHeight: 1, viewportHeight: 1),
                                    at: t0 + 200_000),
                       .cursorFocusChanged(F.ana, message: nil, at: t0 + 200_000)] {
            #expect(start.reduced(action).status(of: F.ana, now: t0 + 300_000) == .online, "\(action)")
            #expect(start.reduced(action).status(of: F.ana, now: t0 + 330_000) == .online, "\(action)")
        }
        #expect(start.status(of: F.ana, now: t0 + 330_000) == .away)
    }

    @Test func offlineAfterSeventyFiveSecondsOfSilence() {
        let state = presence([.heartbeatSent(F.ana, at: t0)])
        #expect(state.status(of: F.ana, now: t0 + 74_999) == .online)
        #expect(state.status(of: F.ana, now: t0 + 75_000) == .offline)
        #expect(state.lastSeenText(of: F.ana, now: t0 + 74_999) == "online")
        #expect(state.lastSeenText(of: F.ana, now: t0 + 75_000) == "last seen 1 minute ago")
        let back = state.reduced(.heartbeatSent(F.ana, at: t0 + 100_000))
        #expect(back.status(of: F.ana, now: t0 + 100_000) == .online)
        #expect(state.nextTransition(now: t0) == t0 + 75_000)
        #expect(state.nextTransition(now: t0 + 75_000) == nil)
        let active = presence([.userActivityDetected(F.ana, at: t0)]
                              + heartbeats(F.ana, stride(from: 30_000, through: 300_000, by: 30_000)))
        #expect(active.nextTransition(now: t0 + 290_000) == t0 + 300_000, "auto-away")
        #expect(active.nextTransition(now: t0 + 300_000) == t0 + 375_000, "then offline")
    }

    @Test func reportedStatuses() {
        var state = presence([.presenceUpdated(F.ana, status: .doNotDisturb, at: t0)])
        #expect(state.status(of: F.ana, now: t0) == .doNotDisturb)
        state.reduce(.userActivityDetected(F.ana, at: t0 + 1_000))
        state.reduce(.heartbeatSent(F.ana, at: t0 + 2_000))
        #expect(state.status(of: F.ana, now: t0 + 2_000) == .doNotDisturb, "only the user ends do-not-disturb")
        #expect(state.status(of: F.ana, now: t0 + 80_000) == .offline, "silence still means offline")
        state.reduce(.presenceUpdated(F.ana, status: .online, at: t0 + 3_000))
        #expect(state.status(of: F.ana, now: t0 + 3_000) == .online)
        state.reduce(.presenceUpdated(F.ana, status: .away, at: t0 + 2_500))
        #expect(state.status(of: F.ana, now: t0 + 3_000) == .online, "an older report is ignored")

        state.reduce(.presenceUpdated(F.ana, status: .away, at: t0 + 4_000))
        #expect(state.status(of: F.ana, now: t0 + 4_000) == .away)
        state.reduce(.heartbeatSent(F.ana, at: t0 + 5_000))
        #expect(state.status(of: F.ana, now: t0 + 5_000) == .away, "a heartbeat is not activity")
        state.reduce(.userActivityDetected(F.ana, at: t0 + 6_000))
        #expect(state.status(of: F.ana, now: t0 + 6_000) == .online, "activity ends a reported away")

        state.reduce(.presenceUpdated(F.ana, status: .offline, at: t0 + 7_000))
        #expect(state.status(of: F.ana, now: t0 + 7_000) == .offline)
        #expect(state.lastSeenText(of: F.ana, now: t0 + 7_000) == "last seen just now")
        state.reduce(.heartbeatSent(F.ana, at: t0 + 8_000))
        #expect(state.status(of: F.ana, now: t0 + 8_000) == .online, "a heartbeat after going offline: back")
    }

    @Test func heartbeatBookkeeping() {
        var state = presence([])
        #expect(state.isHeartbeatDue(now: t0), "before the first heartbeat")
        state.reduce(.heartbeatSent(F.me, at: t0))
        #expect(state.lastHeartbeatSent == t0)
        #expect(state.nextHeartbeatDue == t0 + 30_000)
        #expect(!state.isHeartbeatDue(now: t0 + 29_999))
        #expect(state.isHeartbeatDue(now: t0 + 30_000))
        state.reduce(.heartbeatSent(F.ana, at: t0 + 10_000))
        #expect(state.lastHeartbeatSent == t0, "a peer's heartbeat is not ours")
        state.reduce(.heartbeatSent(F.me, at: t0 - 5))
        #expect(state.lastHeartbeatSent == t0, "never backwards")
        #expect(state.status(of: F.me, now: t0) == .online)
        #expect(state.nextTransition(now: t0) == t0 + 30_000)
    }

    @Test func customStatus() {
        var state = presence([.customStatusSet(F.ana, status: "in a meeting", emoji: "📅", at: t0)])
        #expect(state.entries[F.ana]?.customStatus == "in a meeting")
        #expect(state.entries[F.ana]?.customEmoji == "📅")
        #expect(state.status(of: F.ana, now: t0) == .online, "a status change is a sign of life")
        state.reduce(.customStatusSet(F.ana, status: "older", emoji: nil, at: t0 - 1))
        #expect(state.entries[F.ana]?.customStatus == "in a meeting")
        state.reduce(.customStatusSet(F.ana, status: "", emoji: nil, at: t0 + 1))
        #expect(state.entries[F.ana]?.customStatus == nil, "empty clears")
        #expect(state.entries[F.ana]?.customEmoji == nil)
    }

    @Test(arguments: [
        (UInt64(0), "last seen just now"),
        (59_999, "last seen just now"),
        (60_000, "last seen 1 minute ago"),
        (119_999, "last seen 1 minute ago"),
        (120_000, "last seen 2 minutes ago"),
        (300_000, "last seen 5 minutes ago"),
        (3_599_999, "last seen 59 minutes ago"),
        (3_600_000, "last seen 1 hour ago"),
        (7_199_999, "last seen 1 hour ago"),
        (7_200_000, "last seen 2 hours ago"),
        (86_399_999, "last seen 23 hours ago"),
        (86_400_000, "last seen yesterday"),
        (172_799_999, "last seen yesterday"),
        (172_800_000, "last seen 2 days ago"),
        (259_200_000, "last seen 3 days ago"),
        (3_024_000_000, "last seen 35 days ago"),
    ])
    func lastSeenPhrases(ago: UInt64, text: String) {
        #expect(PresenceState.lastSeenText(lastSeen: t0, now: t0 + ago) == text)
        let state = presence([.presenceUpdated(F.ana, status: .offline, at: t0)])
        #expect(state.lastSeenText(of: F.ana, now: t0 + ago) == text)
    }

    @Test func lastSeenInTheFutureIsJustNow() {
        #expect(PresenceState.lastSeenText(lastSeen: t0 + 5_000, now: t0) == "last seen just now")
        let skewed = presence([.heartbeatSent(F.ana, at: UInt64.max)])
        #expect(skewed.status(of: F.ana, now: t0) == .online, "no trap on an absurd peer clock")
        #expect(skewed.nextTransition(now: t0) == nil)
    }
}
