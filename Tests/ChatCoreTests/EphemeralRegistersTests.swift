import ChatCore
import Testing

/// Ephemeral presence, typing and cursor registers, the sender's throttle and the receiver's flood
/// guard, all driven with explicit times (milliseconds; `t0` is an arbitrary epoch time).
@Suite struct EphemeralRegistersTests {
    let conversation = ConversationID(bytes: Array(repeating: 0xE1, count: 32))! // SAFETY: 32 bytes
    let alice = ReplicaID(testValue: 1), bob = ReplicaID(testValue: 2), carol = ReplicaID(testValue: 3)
    let t0: UInt64 = 1_750_000_000_000

    func update(_ origin: ReplicaID, _ counter: UInt64, at sentAt: UInt64, _ payload: EphemeralPayload) -> EphemeralUpdate {
        EphemeralUpdate(conversation: conversation, origin: origin, counter: counter, sentAt: sentAt, payload: payload)
    }

    func typing(_ isTyping: Bool, _ message: OpID? = nil) -> EphemeralPayload { .typing(Typing(isTyping: isTyping, message: message)) }
    func online(activeAt: UInt64) -> EphemeralPayload { .presence(Presence(status: .online, lastActiveAt: activeAt)) }
    func cursor(_ top: UInt32) -> EphemeralPayload { .cursor(Cursor(scrollTop: top, scrollHeight: 10_000, viewportHeight: 800)) }

    // MARK: Typing

    @Test func typingAppearsAndExpiresAfterThreeSeconds() {
        var registers = EphemeralRegisters(conversation: conversation)
        #expect(registers.typingOrigins(now: t0).isEmpty)
        #expect(registers.receive(update(alice, 1, at: t0, typing(true)), now: t0) == .accepted)
        #expect(registers.typingOrigins(now: t0) == [alice])
        #expect(registers.typingOrigins(now: t0 + 2_999) == [alice])
        #expect(registers.typingOrigins(now: t0 + 3_000).isEmpty, "expires 3 s after the last update")
        #expect(registers.typing(of: alice, now: t0 + 3_000) == nil)
    }

    @Test func typingIsRefreshedByEachUpdateAndClearedByStop() {
        var registers = EphemeralRegisters(conversation: conversation)
        let draft = OpID(replica: alice, counter: 42)
        registers.receive(update(alice, 1, at: t0, typing(true)), now: t0)
        registers.receive(update(alice, 2, at: t0 + 2_000, typing(true, draft)), now: t0 + 2_000)
        #expect(registers.typingOrigins(now: t0 + 4_999) == [alice], "the second update restarts the 3 s")
        #expect(registers.typing(of: alice, now: t0 + 4_999) == Typing(isTyping: true, message: draft))
        #expect(registers.typingOrigins(now: t0 + 5_000).isEmpty)

        registers.receive(update(bob, 1, at: t0 + 6_000, typing(true)), now: t0 + 6_000)
        registers.receive(update(alice, 3, at: t0 + 6_000, typing(true)), now: t0 + 6_000)
        #expect(registers.typingOrigins(now: t0 + 6_100) == [alice, bob], "several people type at once, sorted")
        #expect(registers.receive(update(bob, 2, at: t0 + 6_500, typing(false)), now: t0 + 6_500) == .accepted)
        #expect(registers.typingOrigins(now: t0 + 6_500) == [alice], "stop clears at once, not after 3 s")
    }

    // MARK: Counters

    @Test func replayedAndStaleUpdatesLose() {
        var registers = EphemeralRegisters(conversation: conversation)
        let start = update(alice, 5, at: t0, typing(true))
        #expect(registers.receive(start, now: t0) == .accepted)
        #expect(registers.receive(start, now: t0 + 10) == .stale, "an exact replay")
        let stop = update(alice, 7, at: t0 + 100, typing(false))
        #expect(registers.receive(stop, now: t0 + 100) == .accepted)
        #expect(registers.receive(update(alice, 6, at: t0 + 50, typing(true)), now: t0 + 200) == .stale,
                "an older update arriving late does not undo the stop")
        #expect(registers.receive(update(alice, 7, at: t0 + 300, typing(true)), now: t0 + 300) == .stale,
                "an equal counter is not newer")
        #expect(registers.typingOrigins(now: t0 + 300).isEmpty)
        #expect(registers.receive(start, now: t0 + 400) == .stale)
        #expect(registers.lastSeen(of: alice) == t0 + 100, "stale updates do not count as hearing from the origin")
    }

    @Test func checkAnswersLikeReceiveWithoutChangingAnything() {
        var registers = EphemeralRegisters(conversation: conversation)
        let first = update(alice, 1, at: t0, cursor(10))
        #expect(registers.check(first, now: t0) == .accepted)
        #expect(registers.cursors(now: t0).isEmpty, "check does not apply")
        registers.receive(first, now: t0)
        #expect(registers.check(first, now: t0) == .stale)
    }

    /// Updates from three origins, with duplicates, delivered in seeded random orders: every order
    /// gives the same registers, and each register holds its kind's highest-counter update.
    @Test(arguments: 0 ..< 200)
    func newestCounterWinsWhateverTheOrder(seed: Int) {
        var random = SeededGenerator(seed: UInt64(seed))
        var updates: [EphemeralUpdate] = []
        for origin in [alice, bob, carol] {
            var counter = UInt64.random(in: 0 ... 1_000, using: &random)
            for _ in 0 ..< Int.random(in: 1 ... 12, using: &random) {
                counter += UInt64.random(in: 1 ... 3, using: &random)
                let payload: EphemeralPayload = switch Int.random(in: 0 ..< 5, using: &random) {
                case 0: .presence(Presence(status: PresenceStatus.allCases.randomElement(using: &random) ?? .online,
                                           lastActiveAt: t0 - .random(in: 0 ... 400_000, using: &random),
                                           customStatus: Bool.random(using: &random) ? "lunch \(counter)" : nil))
                case 1: typing(Bool.random(using: &random), Bool.random(using: &random) ? OpID(replica: bob, counter: 9) : nil)
                case 2: cursor(.random(in: 0 ... 9_000, using: &random))
                case 3: .heartbeat
                default: .goodbye
                }
                updates.append(update(origin, counter, at: t0 - .random(in: 0 ... 60_000, using: &random), payload))
            }
        }
        let now = t0
        var inOrder = EphemeralRegisters(conversation: conversation)
        for update in updates { inOrder.receive(update, now: now) }

        var delivered = updates + (0 ..< 5).map { _ in updates[Int.random(in: 0 ..< updates.count, using: &random)] }
        delivered.shuffle(using: &random)
        var shuffled = EphemeralRegisters(conversation: conversation)
        for update in delivered { shuffled.receive(update, now: now) }
        if shuffled != inOrder { print("EphemeralRegisters reorder property failed for seed \(seed)") }
        #expect(shuffled == inOrder, "seed \(seed)")

        for origin in [alice, bob, carol] {
            let mine = updates.filter { $0.origin == origin }
            func newest(_ kinds: Set<EphemeralKind>) -> EphemeralUpdate? {
                mine.filter { kinds.contains($0.payload.kind) }.max { $0.counter < $1.counter }
            }
            let left = newest([.goodbye, .heartbeat]).map { last in
                last.payload == .goodbye && mine.allSatisfy { $0.counter <= last.counter }
            } ?? false
            var expectedTyping: Typing?
            if !left, case .typing(let typing)? = newest([.typing])?.payload, typing.isTyping { expectedTyping = typing }
            #expect(shuffled.typing(of: origin, now: now) == expectedTyping, "seed \(seed)")
            var expectedCursor: Cursor?
            if !left, case .cursor(let cursor)? = newest([.cursor])?.payload { expectedCursor = cursor }
            #expect(shuffled.cursor(of: origin, now: now)?.cursor == expectedCursor, "seed \(seed)")
            var expectedAnnounced: Presence?
            if case .presence(let presence)? = newest([.presence])?.payload { expectedAnnounced = presence }
            let presence = shuffled.presence(of: origin, now: now)
            #expect(presence?.announced == expectedAnnounced?.status, "seed \(seed)")
            #expect(presence?.customStatus == expectedAnnounced?.customStatus, "seed \(seed)")
            if left { #expect(presence?.status == .offline, "a newest goodbye means offline, seed \(seed)") }
        }
    }

    // MARK: Presence

    @Test func onlineThenAwayAfterFiveMinutesThenOfflineAfterSilence() {
        var registers = EphemeralRegisters(conversation: conversation)
        #expect(registers.presence(of: alice, now: t0) == nil, "never heard from")
        var counter: UInt64 = 1
        registers.receive(update(alice, counter, at: t0, online(activeAt: t0)), now: t0)
        #expect(registers.presence(of: alice, now: t0)?.status == .online)
        // Heartbeats every 30 s keep alice online, but she does nothing for 5 minutes.
        for time in stride(from: t0 + 30_000, through: t0 + 300_000, by: 30_000) {
            counter += 1
            #expect(registers.receive(update(alice, counter, at: time, .heartbeat), now: time) == .accepted)
            if time < t0 + 300_000 { #expect(registers.presence(of: alice, now: time)?.status == .online) }
        }
        #expect(registers.presence(of: alice, now: t0 + 299_999)?.status == .online)
        #expect(registers.presence(of: alice, now: t0 + 300_000)?.status == .away, "away after 5 min without activity")
        #expect(registers.presence(of: alice, now: t0 + 300_000)?.announced == .online, "though she said online")
        #expect(registers.lastSeen(of: alice) == t0 + 300_000, "heartbeats count as hearing from her")
        // Then silence: the last heartbeat was at 300 s.
        #expect(registers.presence(of: alice, now: t0 + 374_999)?.status == .away)
        #expect(registers.presence(of: alice, now: t0 + 375_000)?.status == .offline, "offline after 75 s of silence")
        #expect(registers.presence(of: alice, now: t0 + 375_000)?.lastSeen == t0 + 300_000)
        // Activity again: a fresh presence brings her back.
        counter += 1
        registers.receive(update(alice, counter, at: t0 + 400_000, online(activeAt: t0 + 400_000)), now: t0 + 400_000)
        #expect(registers.presence(of: alice, now: t0 + 400_000)?.status == .online)
    }

    @Test func heartbeatsKeepAReplicaOnlineAndSilenceAloneIsNotOfflineBefore75Seconds() {
        var registers = EphemeralRegisters(conversation: conversation)
        registers.receive(update(bob, 1, at: t0, online(activeAt: t0)), now: t0)
        #expect(registers.presence(of: bob, now: t0 + 74_999)?.status == .online, "a late heartbeat does not flicker")
        #expect(registers.presence(of: bob, now: t0 + 75_000)?.status == .offline)
        registers.receive(update(bob, 2, at: t0 + 80_000, .heartbeat), now: t0 + 80_000)
        #expect(registers.presence(of: bob, now: t0 + 80_000)?.status == .online, "a heartbeat revives")
        // A replica that only ever sent a heartbeat is online, with no announced status.
        registers.receive(update(carol, 1, at: t0, .heartbeat), now: t0)
        #expect(registers.presence(of: carol, now: t0) == EffectivePresence(
            origin: carol, status: .online, announced: nil, customStatus: nil, statusEmoji: nil, lastSeen: t0))
        #expect(registers.presences(now: t0 + 80_000).map(\.origin) == [bob, carol])
    }

    @Test func idleTimeIsMeasuredOnTheSendersClockSoSkewCancels() {
        var registers = EphemeralRegisters(conversation: conversation)
        // Alice's clock runs 20 s ahead; she was idle for 200 s when she sent.
        let aliceClock = t0 + 20_000
        registers.receive(update(alice, 1, at: aliceClock, online(activeAt: aliceClock - 200_000)), now: t0)
        registers.receive(update(alice, 2, at: aliceClock + 60_000, .heartbeat), now: t0 + 60_000)
        #expect(registers.presence(of: alice, now: t0 + 99_999)?.status == .online)
        #expect(registers.presence(of: alice, now: t0 + 100_000)?.status == .away)
    }

    @Test func goodbyeIsOfflineAtOnceAndHidesTypingAndCursor() {
        var registers = EphemeralRegisters(conversation: conversation)
        registers.receive(update(alice, 1, at: t0, .presence(Presence(status: .online, lastActiveAt: t0,
                                                                          customStatus: "here", statusEmoji: "👋"))), now: t0)
        registers.receive(update(alice, 2, at: t0, typing(true)), now: t0)
        registers.receive(update(alice, 3, at: t0, cursor(100)), now: t0)
        #expect(registers.typingOrigins(now: t0 + 1) == [alice])
        #expect(registers.cursors(now: t0 + 1).map(\.origin) == [alice])
        #expect(registers.receive(update(alice, 4, at: t0 + 1_000, .goodbye), now: t0 + 1_000) == .accepted)
        let gone = registers.presence(of: alice, now: t0 + 1_000)
        #expect(gone?.status == .offline, "at once, not after 75 s")
        #expect(gone?.customStatus == "here" && gone?.lastSeen == t0 + 1_000)
        #expect(registers.typingOrigins(now: t0 + 1_000).isEmpty)
        #expect(registers.cursors(now: t0 + 1_000).isEmpty)
        // An older heartbeat arriving late loses, and she stays gone.
        #expect(registers.receive(update(alice, 3, at: t0 + 500, .heartbeat), now: t0 + 1_100) == .stale)
        #expect(registers.presence(of: alice, now: t0 + 1_100)?.status == .offline)
        // Coming back: any newer update.
        registers.receive(update(alice, 5, at: t0 + 2_000, .heartbeat), now: t0 + 2_000)
        #expect(registers.presence(of: alice, now: t0 + 2_000)?.status == .online)
        #expect(registers.cursors(now: t0 + 2_000).map(\.origin) == [alice], "her cursor is fresh enough to show again")
    }

    @Test func doNotDisturbAndAppearOfflineAreKept() {
        var registers = EphemeralRegisters(conversation: conversation)
        registers.receive(update(alice, 1, at: t0, .presence(Presence(status: .doNotDisturb, lastActiveAt: t0 - 600_000))), now: t0)
        registers.receive(update(bob, 1, at: t0, .presence(Presence(status: .offline, lastActiveAt: t0))), now: t0)
        registers.receive(update(carol, 1, at: t0, .presence(Presence(status: .away, lastActiveAt: t0))), now: t0)
        #expect(registers.presence(of: alice, now: t0)?.status == .doNotDisturb, "dnd is never turned into away")
        #expect(registers.presence(of: bob, now: t0)?.status == .offline, "appearing offline")
        #expect(registers.presence(of: carol, now: t0)?.status == .away, "away set by hand")
    }

    // MARK: Cursors

    @Test func cursorIsHiddenAfterThirtySecondsIdle() {
        var registers = EphemeralRegisters(conversation: conversation)
        let focused = Cursor(scrollTop: 1_200, scrollHeight: 10_000, viewportHeight: 800,
                             focusedMessage: OpID(replica: bob, counter: 3))
        registers.receive(update(alice, 1, at: t0, .cursor(focused)), now: t0)
        registers.receive(update(bob, 1, at: t0 + 10_000, cursor(0)), now: t0 + 10_000)
        #expect(registers.cursors(now: t0 + 10_000) == [RemoteCursor(origin: alice, cursor: focused, updatedAt: t0),
                                                        RemoteCursor(origin: bob, cursor: Cursor(scrollTop: 0, scrollHeight: 10_000, viewportHeight: 800),
                                                                     updatedAt: t0 + 10_000)])
        #expect(registers.cursors(now: t0 + 29_999).map(\.origin) == [alice, bob])
        #expect(registers.cursors(now: t0 + 30_000).map(\.origin) == [bob], "hidden 30 s after its last update")
        #expect(registers.cursor(of: alice, now: t0 + 30_000) == nil)
        registers.receive(update(alice, 2, at: t0 + 31_000, cursor(50)), now: t0 + 31_000)
        #expect(registers.cursor(of: alice, now: t0 + 31_000)?.cursor.scrollTop == 50, "a new update shows it again")
    }

    // MARK: Time window

    @Test func updatesFromTheFutureOrTooOldAreRefused() {
        var registers = EphemeralRegisters(conversation: conversation)
        let now = t0
        #expect(registers.receive(update(alice, 1, at: now + 30_001, .heartbeat), now: now) == .fromTheFuture)
        #expect(registers.receive(update(alice, 2, at: now - 120_001, .heartbeat), now: now) == .tooOld)
        #expect(registers.lastSeen(of: alice) == nil, "refused updates change nothing")
        #expect(registers.receive(update(alice, 3, at: now + 30_000, .heartbeat), now: now) == .accepted, "30 s ahead is tolerated")
        #expect(registers.receive(update(bob, 1, at: now - 120_000, .heartbeat), now: now) == .accepted, "2 min old is tolerated")
        let elsewhere = EphemeralUpdate(conversation: ConversationID(bytes: Array(repeating: 0xE2, count: 32))!, // SAFETY: 32 bytes
                                        origin: carol, counter: 1, sentAt: now, payload: .heartbeat)
        #expect(registers.receive(elsewhere, now: now) == .otherConversation)
        #expect(registers.knownOrigins == [alice, bob])
        #expect(EphemeralReceipt.fromTheFuture.code == "from_the_future")
    }

    @Test func removingAnOriginForgetsIt() {
        var registers = EphemeralRegisters(conversation: conversation)
        registers.receive(update(alice, 1, at: t0, typing(true)), now: t0)
        registers.remove(origin: alice)
        #expect(registers.typingOrigins(now: t0).isEmpty)
        #expect(registers.presence(of: alice, now: t0) == nil)
    }

    // MARK: Sender throttle

    @Test func typingIsSentAtMostOncePerSecondButStopAlwaysGoesOut() {
        var throttle = EphemeralThrottle()
        #expect(throttle.shouldSend(typing(true), now: t0) == true)
        #expect(throttle.shouldSend(typing(true), now: t0 + 500) == false)
        #expect(throttle.shouldSend(typing(true), now: t0 + 999) == false)
        #expect(throttle.earliestSend(of: .typing, now: t0 + 999) == t0 + 1_000)
        #expect(throttle.shouldSend(typing(false), now: t0 + 999) == true, "stop-typing always goes out")
        #expect(throttle.shouldSend(typing(false), now: t0 + 999) == true)
        #expect(throttle.shouldSend(typing(true), now: t0 + 1_000) == true)
        #expect(throttle.shouldSend(typing(true), now: t0 + 1_999) == false)
        #expect(throttle.shouldSend(typing(true), now: t0 + 2_000) == true)
    }

    @Test func cursorIsSentAtMostFiveTimesInAnySecond() {
        var throttle = EphemeralThrottle()
        for step in 0 ..< 5 { #expect(throttle.shouldSend(cursor(UInt32(step)), now: t0 + UInt64(step) * 100) == true) }
        #expect(throttle.shouldSend(cursor(5), now: t0 + 500) == false, "a sixth within the second")
        #expect(throttle.shouldSend(cursor(5), now: t0 + 999) == false)
        #expect(throttle.shouldSend(cursor(5), now: t0 + 1_000) == true, "the first one left the window")
        #expect(throttle.shouldSend(cursor(6), now: t0 + 1_050) == false)
        #expect(throttle.earliestSend(of: .cursor, now: t0 + 1_050) == t0 + 1_100, "when to send the latest position")
        #expect(throttle.shouldSend(cursor(6), now: t0 + 1_100) == true)
        #expect(throttle.shouldSend(.presence(Presence(status: .away, lastActiveAt: t0)), now: t0 + 1_100) == true,
                "presence is never throttled")
    }

    @Test func heartbeatIsDueEveryThirtySecondsOfSilence() {
        var throttle = EphemeralThrottle()
        #expect(throttle.heartbeatDue(now: t0), "nothing sent yet")
        #expect(throttle.shouldSend(.heartbeat, now: t0) == true)
        #expect(!throttle.heartbeatDue(now: t0 + 29_999))
        #expect(throttle.heartbeatDue(now: t0 + 30_000))
        #expect(throttle.earliestSend(of: .heartbeat, now: t0 + 10_000) == t0 + 30_000)
        #expect(throttle.shouldSend(cursor(1), now: t0 + 20_000) == true)
        #expect(!throttle.heartbeatDue(now: t0 + 30_000), "any update proves liveness")
        #expect(throttle.heartbeatDue(now: t0 + 50_000))
        #expect(throttle.shouldSend(.goodbye, now: t0 + 50_000) == true)
        #expect(!throttle.heartbeatDue(now: t0 + 500_000), "no heartbeats after a goodbye")
        #expect(throttle.earliestSend(of: .heartbeat, now: t0 + 500_000) == .max)
        #expect(throttle.shouldSend(online(activeAt: t0 + 600_000), now: t0 + 600_000) == true)
        #expect(throttle.heartbeatDue(now: t0 + 630_000), "back after saying hello again")
    }

    @Test func countersStayIncreasingAcrossRestarts() {
        var first = EphemeralCounter()
        let a = first.next(now: t0), b = first.next(now: t0), c = first.next(now: t0 - 5)
        #expect(a < b && b < c, "strictly increasing, even within a millisecond or with the clock going back")
        var restarted = EphemeralCounter()
        #expect(restarted.next(now: t0 + 1) > c, "a new process one millisecond later starts above the old one")
        var far = EphemeralCounter()
        #expect(far.next(now: .max) == .max && far.next(now: .max) == .max, "saturates instead of trapping")
    }

    // MARK: Receiver flood guard

    @Test func floodsAreDroppedAndCounted() {
        var limiter = EphemeralRateLimiter()
        var admitted = 0
        for step in 0 ..< 100 where limiter.admit(update(alice, UInt64(step), at: t0, cursor(UInt32(step))), now: t0) { admitted += 1 }
        #expect(admitted == 15, "a burst of 3 s of cursor updates at 5/s")
        #expect(limiter.droppedCount == 85 && limiter.dropped(from: alice) == 85)
        #expect(limiter.admit(update(bob, 1, at: t0, cursor(1)), now: t0) == true, "other origins have their own budget")
        #expect(limiter.admit(update(alice, 200, at: t0, typing(true)), now: t0) == true, "and other kinds")
        #expect(limiter.admit(update(alice, 201, at: t0 + 200, cursor(1)), now: t0 + 200) == true, "refilled at 5/s")
        #expect(limiter.admit(update(alice, 202, at: t0 + 200, cursor(1)), now: t0 + 200) == false)
        #expect(limiter.dropped(from: bob) == 0 && limiter.droppedCount == 86)
    }

    /// Regression (seed 45 of the property below): each class's bucket starts full at its own
    /// size, whatever class an origin used first.
    @Test func eachKindHasItsOwnFullBurst() {
        var limiter = EphemeralRateLimiter()
        #expect(limiter.admit(update(alice, 1, at: t0, .heartbeat), now: t0) == true)
        var admitted = 0
        for step in 0 ..< 20 where limiter.admit(update(alice, 2 + UInt64(step), at: t0, cursor(1)), now: t0) { admitted += 1 }
        #expect(admitted == 15)
    }

    /// Presence bursts (a page opening, going away, then choosing do-not-disturb within a second):
    /// the pacer holds the newest until ``EphemeralControlPacer/earliestSend(now:)``, and the
    /// receiver admits every update it lets out, even when the network bunches them by up to a second.
    @Test(arguments: 0 ..< 50)
    func pacedPresenceIsNeverRateLimited(seed: Int) {
        var random = SeededGenerator(seed: UInt64(seed))
        var pacer = EphemeralControlPacer()
        var counter = EphemeralCounter()
        var limiter = EphemeralRateLimiter()
        var now = t0
        var arrivals: [(UInt64, EphemeralUpdate)] = []
        var newest: EphemeralPayload?
        for step in 0 ..< 500 {
            now += .random(in: 0 ... 400, using: &random)
            let wanted: EphemeralPayload? = Bool.random(using: &random) ? online(activeAt: UInt64(step)) : nil
            if let wanted { newest = wanted }
            guard let payload = wanted.flatMap({ pacer.offer($0, now: now) }) ?? pacer.releaseHeld(now: now) else { continue }
            arrivals.append((now + .random(in: 0 ... 1_000, using: &random), update(alice, counter.next(now: now), at: now, payload)))
        }
        // The newest presence goes out in the end: nothing held is lost.
        if let last = pacer.releaseHeld(now: pacer.earliestSend(now: now)) {
            arrivals.append((pacer.earliestSend(now: now), update(alice, counter.next(now: now), at: now, last)))
        }
        #expect(pacer.held == nil && arrivals.last?.1.payload == newest, "seed \(seed)")
        for (at, sent) in arrivals.sorted(by: { $0.0 < $1.0 }) {
            #expect(limiter.admit(sent, now: at) == true, "seed \(seed): presence arriving at \(at - t0) ms")
        }
        var fresh = EphemeralControlPacer()
        #expect(fresh.shouldSend(now: t0) && fresh.shouldSend(now: t0) && !fresh.shouldSend(now: t0), "a burst of 2")
        #expect(fresh.earliestSend(now: t0) == t0 + 1_000 && fresh.shouldSend(now: t0 + 1_000))
        // A held presence is not replaced by a heartbeat, and a goodbye drops it.
        let away = EphemeralPayload.presence(Presence(status: .away, lastActiveAt: t0))
        #expect(fresh.offer(away, now: t0 + 1_000) == nil && fresh.offer(.heartbeat, now: t0 + 1_000) == nil)
        #expect(fresh.held == away)
        fresh.dropHeld()
        #expect(fresh.held == nil && fresh.releaseHeld(now: t0 + 5_000) == nil)
    }

    /// Whatever an honest sender's throttle lets out, the receiver's limiter admits.
    @Test(arguments: 0 ..< 50)
    func honestSendersAreNeverDropped(seed: Int) {
        var random = SeededGenerator(seed: UInt64(seed))
        var throttle = EphemeralThrottle()
        var counter = EphemeralCounter()
        var limiter = EphemeralRateLimiter()
        var now = t0
        var isTyping = false
        for _ in 0 ..< 2_000 {
            now += .random(in: 0 ... 150, using: &random)
            let payload: EphemeralPayload = switch Int.random(in: 0 ..< 10, using: &random) {
            case 0 ..< 4: cursor(.random(in: 0 ... 9_000, using: &random))
            case 4 ..< 8: typing(true)
            case 8: typing(false)
            default: throttle.heartbeatDue(now: now) ? .heartbeat : cursor(0)
            }
            // An honest client stops only after it started.
            if payload == typing(false), !isTyping { continue }
            guard throttle.shouldSend(payload, now: now) else { continue }
            if case .typing(let typing) = payload { isTyping = typing.isTyping }
            let sent = update(alice, counter.next(now: now), at: now, payload)
            #expect(limiter.admit(sent, now: now) == true, "seed \(seed): \(payload.kind) at \(now - t0) ms")
        }
        #expect(limiter.droppedCount == 0, "seed \(seed)")
    }
}
