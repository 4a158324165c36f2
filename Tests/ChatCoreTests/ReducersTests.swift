import ChatCore
import Testing

/// Users and helpers shared by the reducer tests.
enum ReducerFixture {
    static let me = ReplicaID(testValue: 1)
    static let ana = ReplicaID(testValue: 2)
    static let ben = ReplicaID(testValue: 3)
    static let cai = ReplicaID(testValue: 4)
    static let dan = ReplicaID(testValue: 5)

    static func joined(_ user: ReplicaID, _ name: String, _ permission: Permission = .comment) -> ConversationViewAction {
        .userJoined(user, profile: Profile(displayName: name), permission: permission)
    }

    static func view(_ actions: [ConversationViewAction], localUser: ReplicaID = me) -> ConversationViewState {
        var state = ConversationViewState(localUser: localUser)
        state.reduce(contentsOf: actions)
        return state
    }
}

@Suite struct ReducerUserListTests {
    typealias F = ReducerFixture
    let now: UInt64 = 1_000_000

    @Test func joinUpdatePermissionAndLeave() {
        var state = F.view([F.joined(F.ana, "Ana", .admin), F.joined(F.ben, "Ben")])
        #expect(state.userList(now: now).map(\.displayName) == ["Ana", "Ben"])
        #expect(state.users.permission(of: F.ana) == .admin)

        state.reduce(.userUpdated(F.ana, profile: Profile(displayName: "Ana B.", status: "reading")))
        state.reduce(.permissionChanged(F.ben, permission: .edit))
        let rows = state.userList(now: now)
        #expect(rows.map(\.displayName) == ["Ana B.", "Ben"])
        #expect(rows.map(\.badge.name) == ["admin", "edit"])
        #expect(rows[0].customStatus == "reading")

        let colorBefore = state.users.color(of: F.ben)
        state.reduce(.userLeft(F.ben))
        #expect(state.userList(now: now).map(\.id) == [F.ana], "departed members leave the list")
        #expect(state.users.displayName(of: F.ben) == "Ben", "but keep their name for their messages")
        #expect(state.users.color(of: F.ben) == colorBefore, "and their colour")
        #expect(state.users.permission(of: F.ben) == nil)

        state.reduce(F.joined(F.ben, "Ben", .view))
        #expect(state.userList(now: now).map(\.id) == [F.ana, F.ben], "rejoining")
        #expect(state.users.permission(of: F.ben) == .view)
    }

    @Test func profileOrPermissionForAnUnknownUserAddsThem() {
        let unnamed = ReplicaID(testValue: 9)
        let state = F.view([.permissionChanged(unnamed, permission: .comment), .userUpdated(F.ana, profile: Profile(displayName: "Ana"))])
        #expect(state.users.displayName(of: unnamed) == "User 00000000")
        #expect(state.users.permission(of: unnamed) == .comment)
        #expect(state.users.permission(of: F.ana) == .view)
        #expect(Set(state.users.colors.keys) == [unnamed, F.ana])
    }

    /// al and me online, bob away, carl do-not-disturb, Ana offline (never seen), zoe online.
    func populated() -> ConversationViewState {
        let al = ReplicaID(testValue: 10), zoe = ReplicaID(testValue: 11), bob = ReplicaID(testValue: 12)
        let carl = ReplicaID(testValue: 13), ana = ReplicaID(testValue: 14)
        return F.view([
            F.joined(zoe, "zoe"), F.joined(ana, "Ana"), F.joined(bob, "bob"), F.joined(carl, "Carl"),
            F.joined(al, "al"), F.joined(F.me, "Me", .admin),
            .userActivityDetected(al, at: now - 1_000), .userActivityDetected(zoe, at: now - 2_000),
            .heartbeatSent(F.me, at: now - 500),
            .presenceUpdated(bob, status: .away, at: now - 3_000),
            .presenceUpdated(carl, status: .doNotDisturb, at: now - 4_000),
        ])
    }

    @Test func onlineFirstThenByNameIgnoringCase() {
        let rows = populated().userList(now: now)
        #expect(rows.map(\.displayName) == ["al", "Me", "zoe", "bob", "Carl", "Ana"])
        #expect(rows.map(\.status) == [.online, .online, .online, .away, .doNotDisturb, .offline])
        #expect(rows.map(\.lastSeen) == ["online", "online", "online", "online", "online", "offline"])
        #expect(rows.map(\.isLocalUser) == [false, true, false, false, false, false])
    }

    @Test func filterByPresence() {
        let state = populated()
        #expect(state.userList(now: now, statuses: [.online]).map(\.displayName) == ["al", "Me", "zoe"])
        #expect(state.userList(now: now, statuses: [.away, .offline]).map(\.displayName) == ["bob", "Ana"])
        #expect(state.userList(now: now, statuses: [.doNotDisturb]).map(\.displayName) == ["Carl"])
        #expect(state.userList(now: now, statuses: []).isEmpty)
    }

    @Test func searchIgnoresCaseAndSurroundingSpaces() {
        let state = F.view([F.joined(F.ana, "Ana"), F.joined(F.ben, "Ben"), F.joined(F.dan, "DANIEL"),
                            F.joined(F.cai, "Cai Ånström")])
        #expect(state.userList(now: now, search: "AN").map(\.displayName) == ["Ana", "DANIEL"])
        #expect(state.userList(now: now, search: "  an ").map(\.displayName) == ["Ana", "DANIEL"])
        #expect(state.userList(now: now, search: "ån").map(\.displayName) == ["Cai Ånström"])
        #expect(state.userList(now: now, search: "").count == 4)
        #expect(state.userList(now: now, search: "   ").count == 4)
        #expect(state.userList(now: now, search: "xyz").isEmpty)
        #expect(state.userList(now: now, search: "an", statuses: [.online]).isEmpty, "search and filter combine")
    }

    @Test(arguments: [(Permission.admin, "admin", "Admin"), (.edit, "edit", "Editor"),
                      (.comment, "comment", "Commenter"), (.view, "view", "Read-only")])
    func permissionBadges(permission: Permission, name: String, label: String) {
        let badge = PermissionBadge(permission)
        #expect(badge.name == name)
        #expect(badge.label == label)
        let row = F.view([F.joined(F.ana, "Ana", permission)]).userList(now: now)[0]
        #expect(row.badge == badge)
    }

    @Test func colourAvatarAndCustomStatus() {
        let state = F.view([
            .userJoined(F.ana, profile: Profile(displayName: "Ana", avatar: "https://a.example/ana.png", colour: 0x12_34_56,
                                                status: "profile status", statusEmoji: "🌴"), permission: .comment),
            F.joined(F.ben, "Ben"),
            .customStatusSet(F.ben, status: "lunch", emoji: "🍜", at: now - 10),
        ])
        let rows = state.userList(now: now)
        #expect(rows.map(\.id) == [F.ben, F.ana], "Ben is online (his status is a sign of life), Ana was never seen")
        let ana = rows[1], ben = rows[0]
        #expect(ana.color.hex == "#123456", "a profile colour wins")
        #expect(ana.avatar == .image("https://a.example/ana.png"))
        #expect(ana.customStatus == "profile status")
        #expect(ana.statusEmoji == "🌴")
        #expect(ben.color == state.users.colors[F.ben])
        #expect(ben.avatar == .identicon(svg: Identicon.svg(for: F.ben, color: ben.color)))
        #expect(ben.customStatus == "lunch", "presence custom status")
        #expect(ben.statusEmoji == "🍜")
    }
}

@Suite struct ReducerMessageTests {
    typealias F = ReducerFixture
    let own = OpID(replica: ReducerFixture.me, counter: 5)
    let others = OpID(replica: ReducerFixture.ben, counter: 7)

    func view(permission: Permission?) -> ConversationViewState {
        var actions = [F.joined(F.ben, "Ben", .admin),
                       .messageReceived(MessageSnapshot(id: own, text: "mine", postedAt: 100)),
                       .messageReceived(MessageSnapshot(id: others, text: "theirs", postedAt: 200))]
        if let permission { actions.insert(F.joined(F.me, "Me", permission), at: 0) }
        return F.view(actions)
    }

    /// Expected (edit, delete) for own and others' messages at each level.
    @Test(arguments: [
        (Permission.view, false, false, false, false),
        (.comment, true, true, false, false),
        (.edit, true, true, true, false),
        (.admin, true, true, true, true),
    ])
    func editAndDeleteFollowPermissions(permission: Permission, editOwn: Bool, deleteOwn: Bool, editOthers: Bool,
                                        deleteOthers: Bool) {
        let rows = view(permission: permission).messageRows()
        #expect(rows.map(\.id) == [own, others])
        #expect(rows[0].isOwn && !rows[1].isOwn)
        #expect((rows[0].canEdit, rows[0].canDelete) == (editOwn, deleteOwn), "own message at \(permission)")
        #expect((rows[1].canEdit, rows[1].canDelete) == (editOthers, deleteOthers), "others' message at \(permission)")
        #expect(permission.canEditMessage(own: true) == editOwn)
        #expect(permission.canDeleteMessage(own: false) == deleteOthers)
        #expect(permission.canSendMessages == (permission != .view))
    }

    @Test func composerExplainsWhySendingIsDisabled() {
        #expect(view(permission: .view).composer == ComposerState(permission: .view))
        #expect(view(permission: .view).composer.canSend == false)
        #expect(view(permission: .view).composer.disabledReason == "You have view-only access")
        for permission in [Permission.comment, .edit, .admin] {
            #expect(view(permission: permission).composer.canSend)
            #expect(view(permission: permission).composer.disabledReason == nil)
        }
        #expect(view(permission: nil).composer.disabledReason == "You are not a member of this conversation")
        let left = view(permission: .admin).reduced(.userLeft(F.me))
        #expect(left.composer.canSend == false)
        #expect(left.messageRows().allSatisfy { !$0.canEdit && !$0.canDelete }, "a former member is offered nothing")
    }

    @Test func deletedMessagesOfferNothingAndHideTheirText() {
        var state = view(permission: .admin)
        state.reduce(.messageReceived(MessageSnapshot(id: own, text: "mine", postedAt: 100, isDeleted: true)))
        let row = state.messageRows()[0]
        #expect(row.isDeleted && row.marker == "deleted" && row.text == "")
        #expect(!row.canEdit && !row.canDelete)
    }

    @Test func authorsMarkersAndUpdatesInPlace() {
        var state = view(permission: .comment)
        state.reduce(.messageReceived(MessageSnapshot(id: others, text: "theirs, fixed", postedAt: 200, isEdited: true)))
        state.reduce(.messageReceived(MessageSnapshot(id: others, text: "theirs, fixed", postedAt: 200)))
        let third = OpID(replica: F.cai, counter: 1)
        state.reduce(.messageReceived(MessageSnapshot(id: third, text: "who am I", postedAt: 300)))
        let rows = state.messageRows()
        #expect(rows.map(\.id) == [own, others, third], "first-received order; an update keeps its place")
        #expect(rows.map(\.authorName) == ["Me", "Ben", "User 00000000"])
        #expect(rows.map(\.marker) == [nil, "edited", nil], "edited never reverts")
        #expect(rows[1].text == "theirs, fixed")
        #expect(rows[1].color == state.users.color(of: F.ben))
        #expect(rows[1].avatar == .identicon(svg: Identicon.svg(for: F.ben, color: rows[1].color)))
        #expect(rows[2].color == UserColor.color(for: F.cai), "an unknown author gets their preferred colour")
        #expect(rows[2].avatar == .identicon(svg: Identicon.svg(for: F.cai, color: UserColor.color(for: F.cai))))
    }

    @Test func snapshotOfADocumentMessage() throws {
        var document = ConversationDocument(localReplica: F.me)
        try document.apply(.genesis(Genesis(title: "t", nonce: [1])), id: OpID(replica: F.me, counter: 0), timestamp: 1)
        let id = OpID(replica: F.me, counter: 1)
        try document.apply(.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("hi".unicodeScalars))),
                           id: id, timestamp: 5)
        let record = try #require(document.messages[id])
        #expect(MessageSnapshot(record) == MessageSnapshot(id: id, text: "hi", postedAt: 5))
        #expect(MessageSnapshot(record).author == F.me)
    }
}

@Suite struct ReducerViewStateTests {
    typealias F = ReducerFixture
    static let message = OpID(replica: ReducerFixture.ben, counter: 3)
    static let t: UInt64 = 50_000

    /// Ana and Ben are members; Ana types and focuses Ben's message; presence is known for both.
    static func base() -> ConversationViewState {
        F.view([
            F.joined(F.ana, "Ana", .admin), F.joined(F.ben, "Ben"),
            .messageReceived(MessageSnapshot(id: message, text: "hello", postedAt: t - 10_000)),
            .userStartedTyping(F.ana, displayName: "Ana", at: t),
            .cursorMoved(F.ana, position: CursorPosition(scrollTop: 100, scrollHeight: 1_000, viewportHeight: 500), at: t),
            .cursorFocusChanged(F.ana, message: message, at: t),
            .heartbeatSent(F.ben, at: t),
        ])
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var action: ConversationViewAction
        var changes: Set<String>
        var testDescription: String { "\(action)".prefix(40) + " → \(changes.sorted())" }
    }

    /// Which slices each action changes, from the state of ``base()``.
    static let cases: [Case] = [
        Case(action: F.joined(F.cai, "Cai"), changes: ["users"]),
        Case(action: .userLeft(F.ana), changes: ["users", "typing", "cursors"]),
        Case(action: .userUpdated(F.ana, profile: Profile(displayName: "Ana 2")), changes: ["users", "typing"]),
        Case(action: .permissionChanged(F.ben, permission: .edit), changes: ["users"]),
        Case(action: .messageReceived(MessageSnapshot(id: OpID(replica: F.ben, counter: 9), text: "x", postedAt: t + 1)),
             changes: ["messages"]),
        Case(action: .messageReceived(MessageSnapshot(id: OpID(replica: F.ana, counter: 9), text: "sent", postedAt: t + 1)),
             changes: ["messages", "typing"]),
        Case(action: .messageReceived(MessageSnapshot(id: message, text: "hello", postedAt: t - 10_000, isDeleted: true)),
             changes: ["messages", "cursors"]),
        Case(action: .userStartedTyping(F.ben, displayName: "Ben", at: t + 1), changes: ["typing", "presence"]),
        Case(action: .userStoppedTyping(F.ana, at: t + 1), changes: ["typing"]),
        Case(action: .typingTimeout(F.ana, now: t + 3_000), changes: ["typing"]),
        Case(action: .cursorMoved(F.ben, position: CursorPosition(scrollTop: 0, scrollHeight: 10, viewportHeight: 5), at: t + 1),
             changes: ["cursors", "presence"]),
        Case(action: .cursorInactive(F.ana, at: t + 1), changes: ["cursors"]),
        Case(action: .cursorFocusChanged(F.ana, message: nil, at: t + 1), changes: ["cursors", "presence"]),
        Case(action: .presenceUpdated(F.ben, status: .away, at: t + 1), changes: ["presence"]),
        Case(action: .userActivityDetected(F.ben, at: t + 1), changes: ["presence"]),
        Case(action: .heartbeatSent(F.me, at: t + 1), changes: ["presence"]),
        Case(action: .customStatusSet(F.ana, status: "busy", emoji: nil, at: t + 1), changes: ["presence"]),
        // Actions that change nothing: about the local user, or overtaken by newer ones.
        Case(action: .userStartedTyping(F.me, displayName: "Me", at: t + 1), changes: ["presence"]),
        Case(action: .cursorMoved(F.me, position: CursorPosition(scrollTop: 1, scrollHeight: 2, viewportHeight: 1), at: t + 1),
             changes: ["presence"]),
        Case(action: .userStoppedTyping(F.ana, at: t - 1), changes: []),
        Case(action: .typingTimeout(F.ana, now: t + 2_999), changes: []),
        Case(action: .cursorInactive(F.ana, at: t - 1), changes: []),
    ]

    @Test(arguments: cases)
    func everyActionReachesTheSlicesItConcerns(_ testCase: Case) {
        let before = Self.base()
        let after = before.reduced(testCase.action)
        var changed: Set<String> = []
        if before.users != after.users { changed.insert("users") }
        if before.messages != after.messages { changed.insert("messages") }
        if before.typing != after.typing { changed.insert("typing") }
        if before.cursors != after.cursors { changed.insert("cursors") }
        if before.presence != after.presence { changed.insert("presence") }
        #expect(changed == testCase.changes)
        // Each slice on its own reduces the same way as inside the whole.
        #expect(UserListState.reduce(before.users, testCase.action) == after.users)
        #expect(MessageListState.reduce(before.messages, testCase.action) == after.messages)
        #expect(TypingState.reduce(before.typing, testCase.action) == after.typing)
        #expect(CursorState.reduce(before.cursors, testCase.action) == after.cursors)
        #expect(PresenceState.reduce(before.presence, testCase.action) == after.presence)
    }

    @Test func pureAndMutatingFormsAgree() {
        let before = Self.base()
        let action = ConversationViewAction.userStoppedTyping(F.ana, at: Self.t + 5)
        var mutated = before
        mutated.reduce(action)
        #expect(ConversationViewState.reduce(before, action) == mutated)
        #expect(before.reduced(action) == mutated)
        #expect(before == Self.base(), "the pure forms leave their input alone")
    }

    @Test func nextDeadlineIsTheEarliestExpiry() {
        let state = Self.base()
        let t = Self.t
        // Ana's typing (t + 3 s) comes before her cursor (t + 30 s), the first heartbeat is due at once
        // (0, in the past), Ben goes offline at t + 75 s.
        #expect(state.nextDeadline(now: t) == t + 3_000)
        #expect(state.nextDeadline(now: t + 3_000) == t + 30_000)
        #expect(state.nextDeadline(now: t + 30_000) == t + 75_000)
        #expect(state.nextDeadline(now: t + 75_000) == nil, "offline before turning away: nothing more changes")
        let withHeartbeat = state.reduced(.heartbeatSent(F.me, at: t))
        #expect(withHeartbeat.nextDeadline(now: t + 3_000) == t + 30_000)
        #expect(withHeartbeat.nextDeadline(now: t + 30_000) == t + 75_000)
    }

    /// A session on a controllable clock: the view is recomputed at each `now`.
    @Test func sessionWithAControllableClock() {
        var state = F.view([F.joined(F.me, "Me", .comment), F.joined(F.ana, "Ana"), F.joined(F.ben, "Ben")])
        var now: UInt64 = 1_000_000
        state.reduce(.heartbeatSent(F.me, at: now))
        state.reduce(.userActivityDetected(F.ana, at: now))
        state.reduce(.userStartedTyping(F.ana, displayName: "Ana", at: now))
        #expect(state.typingLine(now: now) == "Ana is typing…")
        #expect(state.userList(now: now).map(\.displayName) == ["Ana", "Me", "Ben"])

        now += 1_000
        state.reduce(.userStartedTyping(F.ben, displayName: "Ben", at: now))
        #expect(state.typingLine(now: now) == "Ana and Ben are typing…")
        #expect(state.userList(now: now).map(\.displayName) == ["Ana", "Ben", "Me"])

        now += 2_000
        #expect(state.typingLine(now: now) == "Ben is typing…", "Ana expired 3 s after her last update")
        state.reduce(.messageReceived(MessageSnapshot(id: OpID(replica: F.ben, counter: 4), text: "hi", postedAt: now)))
        #expect(state.typingLine(now: now) == nil, "Ben's message ends his typing")
        #expect(state.messageRows().map(\.authorName) == ["Ben"])
        #expect(state.composer.canSend)
        #expect(state.presence.isHeartbeatDue(now: now) == false)
        #expect(state.presence.isHeartbeatDue(now: 1_030_000))
    }
}
