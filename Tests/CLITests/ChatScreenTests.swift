import ChatControl
import ChatCore
import ChatNode
import Foundation
@testable import StreamingChatCLI
import Testing

/// The terminal chat's pure parts: key decoding, composer and slash commands, and the screen
/// drawn for a width × height.
struct ChatScreenTests {
    static func entry(_ id: String, _ author: String, _ name: String?, _ text: String, edited: Bool = false,
                      deleted: Bool = false, at postedAt: UInt64 = 0) throws -> LogEntry {
        var object: [String: Any] = ["id": id, "author": author, "text": text, "edited": edited, "deleted": deleted,
                                     "postedAt": postedAt]
        if let name { object["authorName"] = name }
        return try JSONDecoder().decode(LogEntry.self, from: JSONSerialization.data(withJSONObject: object))
    }

    static func state(canSend: Bool = true, typing: [String] = [], messages: [LogEntry]? = nil) throws -> ChatState {
        let ana = "sc1ana", ben = "sc1ben"
        return ChatState(
            conversation: "ab12", title: "Team", me: ana, myName: "ana", permission: canSend ? "admin" : "view",
            canSend: canSend, reason: canSend ? nil : "view-only: ask an admin for comment permission (/request)",
            messages: try messages ?? [
                entry("aaaaaaaaaaaaaaaa:3", ana, "ana", "hello", at: 3_600_000),
                entry("bbbbbbbbbbbbbbbb:4", ben, "ben", "fixed", edited: true, at: 3_660_000),
                entry("bbbbbbbbbbbbbbbb:5", ben, "ben", "", deleted: true, at: 3_720_000),
            ],
            totalMessages: 3,
            members: [
                ChatState.Member(key: ana, name: "ana", permission: "admin", status: "online", customStatus: nil,
                                 color: "#DD1818", isSelf: true),
                ChatState.Member(key: ben, name: "ben", permission: "comment", status: "away", customStatus: "lunch",
                                 color: "#279B39", isSelf: false),
            ],
            colors: [ana: "#DD1818", ben: "#279B39"], typing: typing, cursors: [ChatState.CursorEntry(key: ben, name: "ben", message: "aaaaaaaaaaaaaaaa:3")],
            peers: 1, joining: false, pending: 0, now: 0)
    }

    static func plain(_ lines: [String]) -> [String] { lines.map(ChatScreen.visibleText) }

    @Test func keysDecodeTextControlsAndSplitUTF8() {
        var decoder = ChatKeyDecoder()
        #expect(decoder.keys(from: Array("hi".utf8) + [0x7F, 0x0D, 0x03]) == [.text("hi"), .backspace, .enter, .interrupt])
        // Up arrow scrolls; other escape sequences are dropped; "é" split across two reads arrives whole.
        let accent = Array("é".utf8)
        #expect(decoder.keys(from: [0x1B, 0x5B, 0x41, 0x1B, 0x5B, 0x32, 0x7E, accent[0]]) == [.scroll(.lineUp)])
        #expect(decoder.keys(from: [accent[1], 0x61]) == [.text("éa")])
    }

    @Test func composerSendsAndClears() throws {
        var screen = ChatScreen()
        screen.state = try Self.state()
        #expect(screen.handle(.text("hey")) == .composing)
        #expect(screen.handle(.backspace) == .composing)
        #expect(screen.composer == "he")
        #expect(screen.handle(.enter) == .send("he"))
        #expect(screen.composer.isEmpty)
        #expect(screen.handle(.enter) == .none)
        #expect(screen.handle(.interrupt) == .quit)
    }

    @Test(arguments: [
        ("/edit aaaaaaaa:3 new text", ChatAction.edit(id: "aaaaaaaa:3", text: "new text")),
        ("/delete aaaaaaaa:3", .delete(id: "aaaaaaaa:3")),
        ("/invite", .invite(permission: .comment)),
        ("/invite view", .invite(permission: .view)),
        ("/invite edit Cat Stevens", .invite(permission: .edit, invitee: "Cat Stevens")),
        ("/invite owner", .invite(permission: .comment, invitee: "owner")),
        ("/accept e754ce6b", .answerInvitation(id: "e754ce6b", accept: true)),
        ("/decline e754ce6b", .answerInvitation(id: "e754ce6b", accept: false)),
        ("/accept", .redraw),
        ("/status dnd in a meeting", .setStatus(status: "dnd", text: "in a meeting")),
        ("/status away", .setStatus(status: "away", text: nil)),
        ("/audit", .audit),
        ("/request edit please", .requestAccess(permission: .edit, note: "please")),
        ("/quit", .quit),
        ("/grant Cat Stevens edit", .grant(member: "Cat Stevens", permission: .edit)),
        ("/grant ben", .redraw),
        ("/revoke ben", .revoke(member: "ben")),
        ("/requests", .listRequests),
        ("/invitations", .listInvitations),
        ("/jump", .redraw),
        ("/members", .redraw),
        ("/status busy", .redraw),
        ("/nope", .redraw),
    ])
    func slashCommands(line: String, action: ChatAction) throws {
        var screen = ChatScreen()
        screen.state = try Self.state()
        _ = screen.handle(.text(line))
        #expect(screen.handle(.enter) == action)
        #expect(screen.composer.isEmpty)
    }

    @Test func viewOnlyCannotSendAndSeesWhy() throws {
        var screen = ChatScreen()
        screen.state = try Self.state(canSend: false)
        let idle = Self.plain(screen.lines(width: 80, height: 24))
        #expect(idle[23].contains("view-only: ask an admin for comment permission (/request)"))
        _ = screen.handle(.text("hello"))
        #expect(screen.handle(.enter) == .redraw)
        #expect(screen.composer == "hello")
        let lines = Self.plain(screen.lines(width: 80, height: 24))
        #expect(lines.contains { $0.contains("view-only") })
        // Slash commands still work.
        screen.composer = ""
        _ = screen.handle(.text("/request"))
        #expect(screen.handle(.enter) == .requestAccess(permission: .comment, note: ""))
    }

    @Test func screenAt80x24() throws {
        var screen = ChatScreen()
        screen.state = try Self.state(typing: ["ben"])
        screen.composer = "draft"
        let raw = screen.lines(width: 80, height: 24)
        let lines = Self.plain(raw)
        #expect(lines.count == 24)
        #expect(lines.allSatisfy { $0.count <= 80 }, "\(lines.filter { $0.count > 80 })")
        #expect(lines[0].contains("Team") && lines[0].contains("2 members") && lines[0].contains("synced with 1 peer"))
        #expect(lines.contains { $0.contains("01:00 ana: hello") && $0.contains("◂ ben") })
        #expect(lines.contains { $0.contains("01:01 ben: fixed (edited)") })
        #expect(lines.contains { $0.contains("01:02 ben: [deleted]") })
        #expect(lines[22] == "ben is typing…")
        #expect(lines[23] == "> draft")
        #expect(screen.composerColumn(width: 80) == 8)
        // Author colours in 24-bit, no member list at 80 columns.
        #expect(raw.contains { $0.contains("\u{1B}[38;2;39;155;57m") })
        #expect(!lines.contains { $0.contains("Members (") })
        screen.trueColor = false
        #expect(screen.lines(width: 80, height: 24).contains { $0.contains("\u{1B}[38;5;") })
        // Ids on request.
        screen.showIDs = true
        #expect(Self.plain(screen.lines(width: 80, height: 24)).contains { $0.contains("aaaaaaaa:3 ana: hello") })
        // /members shows the list in place of the messages.
        screen.showMembers = true
        let members = Self.plain(screen.lines(width: 80, height: 24))
        #expect(members[1] == "Members (2)")
        #expect(members[2].hasPrefix("● ana (you) admin"))
        #expect(members[3].contains("ben comment away – lunch"))
    }

    /// Pending invitations show in the header; /invitations lists them with how to answer.
    @Test func pendingInvitationsAreShownAndListed() throws {
        var screen = ChatScreen()
        var state = try Self.state()
        state.invitations = [ReceivedInvitationEntry(
            conversation: "47e4af7a6addadcd", permission: "edit", issuer: "sc1anaanaanaanaanaana", tokenID: "e754ce6b00112233",
            label: "project", expiresAt: nil, from: "sc1anaanaanaanaanaana", receivedAt: 0, url: "streamingchat://join?token=00",
            state: "pending")]
        screen.state = state
        #expect(Self.plain(screen.lines(width: 100, height: 12))[0].contains("1 invitation (/invitations)"))
        screen.composer = "/invitations"
        // The loop lists them, with the invitations this node sent (asked of the node).
        #expect(screen.handle(.enter) == .listInvitations)
        #expect(screen.receivedInvitationLines()
            == ["e754ce6b  edit in 47e4af7a6add \"project\"  from sc1anaanaanaanaa…  (/accept or /decline e754ce6b)"])
        state.invitations = []
        screen.state = state
        #expect(screen.receivedInvitationLines().isEmpty)
    }

    @Test func auditLinesAreShortened() {
        let csv = "at,action,actor,actor_name,target,target_name,message,detail\r\n"
            + "2026-11-27T03:50:06.259Z,member_joined,sc1aaaaaaaaaaaa,ana,sc1bbbbbbbbbbbb,,,permission=comment\r\n"
            + "2026-11-27T03:50:09.589Z,message_sent,sc1bbbbbbbbbbbb,ben,,,sc1bbbbbbbbbbbb@2,\r\n"
        #expect(ChatScreen.auditSummary(csv: csv, last: 6) == [
            "03:50:06 member_joined ana → bbbbbbbb permission=comment",
            "03:50:09 message_sent ben",
        ])
        #expect(ChatScreen.auditSummary(csv: csv, last: 1).count == 1)
    }

    @Test func wideScreenShowsTheMemberListOnTheRight() throws {
        var screen = ChatScreen()
        screen.state = try Self.state()
        let lines = Self.plain(screen.lines(width: 120, height: 30))
        #expect(lines.count == 30)
        #expect(lines.allSatisfy { $0.count <= 120 })
        #expect(lines[1].contains("│ Members (2)"))
        #expect(lines[2].contains("● ana (you) admin"))
    }

    @Test(arguments: [([String](), nil as String?), (["ben"], "ben is typing…"),
                      (["ben", "cat"], "ben and cat are typing…"), (["ben", "cat", "dan"], "3 people are typing…")])
    func typingLine(names: [String], expected: String?) throws {
        var screen = ChatScreen()
        screen.state = try Self.state(typing: names)
        #expect(Self.plain(screen.lines(width: 80, height: 24))[22]
            == (expected ?? "/help: commands · PgUp/PgDn: scroll · /jump <name>: a reader's place"))
    }

    @Test func longMessagesWrapAndTheNewestStayVisible() throws {
        var screen = ChatScreen()
        let long = String(repeating: "word ", count: 40)
        let many = try (0 ..< 40).map { try Self.entry("aaaaaaaaaaaaaaaa:\($0)", "sc1ana", "ana", "\($0) " + long) }
        screen.state = try Self.state(messages: many)
        let lines = Self.plain(screen.lines(width: 80, height: 24))
        #expect(lines.count == 24)
        #expect(lines.allSatisfy { $0.count <= 80 })
        #expect(lines[20].hasPrefix("      "))
        #expect(lines.contains { $0.contains("ana: 39 word") })
        #expect(screen.focusedMessage == "aaaaaaaaaaaaaaaa:39")
    }

    @Test func scrollKeysDecodeInTheirCommonForms() {
        var decoder = ChatKeyDecoder()
        let sequences: [(String, ChatKey.Scroll)] = [
            ("\u{1B}[5~", .pageUp), ("\u{1B}[6~", .pageDown), ("\u{1B}[H", .top), ("\u{1B}[1~", .top), ("\u{1B}OH", .top),
            ("\u{1B}[F", .bottom), ("\u{1B}[4~", .bottom), ("\u{1B}OF", .bottom), ("\u{1B}[B", .lineDown), ("\u{1B}OA", .lineUp),
            ("\u{1B}[<64;10;5M", .lineUp), ("\u{1B}[<65;10;5M", .lineDown),
        ]
        for (sequence, scroll) in sequences {
            #expect(decoder.keys(from: Array(sequence.utf8)) == [.scroll(scroll)], "\(sequence.debugDescription)")
        }
        // A sequence split across reads arrives whole.
        #expect(decoder.keys(from: [0x1B, 0x5B, 0x35]) == [])
        #expect(decoder.keys(from: [0x7E, 0x61]) == [.scroll(.pageUp), .text("a")])
    }

    /// Issue 19: PgUp/PgDn/Home/End move through the scrollback, new messages do not move the
    /// view, End follows the newest again, and the focus (the published cursor) is the last
    /// message in view.
    @Test func scrollbackMovesByPagesAndStaysPut() throws {
        var screen = ChatScreen()
        screen.size = (80, 24)
        var messages = try (0 ..< 60).map { try Self.entry("aaaaaaaaaaaaaaaa:\($0)", "sc1ana", "ana", "message \($0)") }
        screen.state = try Self.state(messages: messages)
        screen.state?.totalMessages = 60
        screen.state?.cursors = []
        #expect(Self.plain(screen.lines(width: 80, height: 24)).contains { $0.contains("message 59") })
        #expect(screen.handle(.scroll(.pageUp)) == .redraw)
        var lines = Self.plain(screen.lines(width: 80, height: 24))
        #expect(!lines.contains { $0.contains("message 59") })
        #expect(lines.contains { $0.contains("newer lines · End: newest") })
        let focus = try #require(screen.focusedMessage)
        #expect(focus != "aaaaaaaaaaaaaaaa:59")
        // A new message arrives: the view stays on the same messages.
        messages.append(try Self.entry("aaaaaaaaaaaaaaaa:60", "sc1ana", "ana", "message 60"))
        screen.state?.messages = messages
        screen.state?.totalMessages = 61
        #expect(screen.focusedMessage == focus)
        _ = screen.handle(.scroll(.top))
        lines = Self.plain(screen.lines(width: 80, height: 24))
        #expect(lines[1].contains("message 0"))
        _ = screen.handle(.scroll(.lineDown))
        #expect(Self.plain(screen.lines(width: 80, height: 24))[1].contains("message 1"))
        _ = screen.handle(.scroll(.bottom))
        lines = Self.plain(screen.lines(width: 80, height: 24))
        #expect(lines.contains { $0.contains("message 60") })
        #expect(screen.focusedMessage == "aaaaaaaaaaaaaaaa:60")
    }

    /// Issue 19: `/jump ben` scrolls to the message ben's cursor is on.
    @Test func jumpGoesToAReadersCursor() throws {
        var screen = ChatScreen()
        screen.size = (80, 24)
        let messages = try (0 ..< 60).map { try Self.entry("aaaaaaaaaaaaaaaa:\($0)", "sc1ana", "ana", "message \($0)") }
        screen.state = try Self.state(messages: messages)
        screen.state?.cursors = [ChatState.CursorEntry(key: "sc1ben", name: "ben", message: "aaaaaaaaaaaaaaaa:12")]
        screen.composer = "/jump Be"
        #expect(screen.handle(.enter) == .redraw)
        #expect(screen.focusedMessage == "aaaaaaaaaaaaaaaa:12")
        #expect(Self.plain(screen.lines(width: 80, height: 24)).contains { $0.contains("message 12 ◂ ben") })
        screen.composer = "/jump cat"
        _ = screen.handle(.enter)
        #expect(screen.notice == ["no cursor of cat; reading now: ben"])
    }

    /// Issue 19: wide (CJK, emoji) and combining characters take their real columns; lines
    /// wrap between words; nothing is lost or cut.
    @Test(arguments: [(80, 24), (120, 40), (40, 12)])
    func wideAndCombiningCharactersWrapByColumns(width: Int, height: Int) throws {
        var screen = ChatScreen()
        screen.size = (width, height)
        let text = "日本語のテキスト 🎉 party time e\u{301}te\u{301} café 👩‍👩‍👧 family and a long column of words "
            + String(repeating: "日本語 ", count: 12)
        screen.state = try Self.state(messages: [try Self.entry("aaaaaaaaaaaaaaaa:1", "sc1ana", "ana", text)])
        screen.state?.cursors = []
        let lines = Self.plain(screen.lines(width: width, height: height))
        #expect(lines.count == height)
        for line in lines { #expect(TerminalText.width(of: line) <= width, "\(line)") }
        // Every word is whole on some row (no word is split), and nothing is lost.
        let messageWidth = width >= ChatScreen.memberPanelMinimumWidth ? width - ChatScreen.memberPanelWidth : width
        let rows = lines.map { String($0.prefix { $0 != "│" }) }
        let joined = rows.joined(separator: " ")
        for word in ["日本語のテキスト", "🎉", "e\u{301}te\u{301}", "café", "👩‍👩‍👧", "column"] {
            #expect(joined.contains(word), "\(word) at \(width) columns")
        }
        #expect(joined.components(separatedBy: "日本語").count - 1 == 13)
        #expect(messageWidth > 0)
    }

    @Test func displayWidths() {
        #expect(TerminalText.width(of: "abc") == 3)
        #expect(TerminalText.width(of: "日本語") == 6)
        #expect(TerminalText.width(of: "🎉") == 2)
        #expect(TerminalText.width(of: "e\u{301}") == 1)
        #expect(TerminalText.width(of: "👩‍👩‍👧") == 2)
        #expect(TerminalText.width(of: "❤\u{FE0F}") == 2)
        #expect(TerminalText.width(of: "ｱ") == 1) // halfwidth katakana
        #expect(TerminalText.width(of: "Ａ") == 2) // fullwidth A
        #expect(ChatScreen.fit("日本語日本語", width: 7) == "日本語…")
    }

    /// Issue 19: joins, removals and permission changes appear between messages; a removed
    /// member sees who removed it; an admin sees open access requests in the header.
    @Test func timelineNotesAndRemoval() throws {
        var screen = ChatScreen()
        var state = try Self.state()
        state.cursors = []
        state.notes = [
            ChatState.Note(at: 0, kind: "created", text: "ana created “Team”"),
            ChatState.Note(at: 3_630_000, kind: "joined", text: "ben joined as comment", subject: "sc1ben"),
            ChatState.Note(at: 3_700_000, kind: "request", text: "ben asked for edit access", subject: "sc1ben"),
        ]
        state.openRequests = 1
        screen.state = state
        let lines = Self.plain(screen.lines(width: 100, height: 20))
        #expect(lines[0].contains("1 access request (/requests)"))
        let created = try #require(lines.firstIndex { $0.contains("· ana created “Team”") })
        let hello = try #require(lines.firstIndex { $0.contains("ana: hello") })
        let joined = try #require(lines.firstIndex { $0.contains("· ben joined as comment") })
        let fixed = try #require(lines.firstIndex { $0.contains("ben: fixed") })
        let request = try #require(lines.firstIndex { $0.contains("ben asked for edit access (/requests, /grant)") })
        #expect(created < hello && hello < joined && joined < fixed && fixed < request)

        state.permission = "none"
        state.canSend = false
        state.reason = "you were removed from this conversation by ana"
        screen.state = state
        #expect(Self.plain(screen.lines(width: 80, height: 24)).last == "> [you were removed from this conversation by ana]")
    }

    /// Issue 19: at 100 columns and more `/members` lists everyone with presence and last seen.
    @Test func membersAtWideWidthsAreListed() throws {
        var screen = ChatScreen()
        screen.size = (120, 30)
        var state = try Self.state()
        state.now = 7_200_000
        state.members.append(ChatState.Member(key: "sc1cat", name: "cat", permission: "view", status: "offline",
                                              customStatus: nil, color: "#123456", isSelf: false, lastSeen: 0))
        screen.state = state
        screen.composer = "/members"
        #expect(screen.handle(.enter) == .redraw)
        #expect(screen.notice == ["ana (you) · admin · online", "ben · comment · away – lunch",
                                  "cat · view · offline · last seen 2 h ago"])
        #expect(Self.plain(screen.lines(width: 120, height: 30)).contains { $0.contains("cat view offline 2 h ago") })
    }
}

/// Issue 19: another member's message cannot inject terminal escape sequences into `log` or
/// the chat: C0, DEL and C1 controls (the one-byte CSI U+009B among them) and bidirectional
/// overrides are shown as U+FFFD.
struct TerminalTextTests {
    @Test func controlsAndOverridesBecomeReplacementCharacters() {
        let hostile = "hi\u{1B}[2J\u{9B}31m\u{7F}\u{202E}evil\nnext"
        let safe = TerminalText.safe(hostile)
        #expect(safe == "hi\u{FFFD}[2J\u{FFFD}31m\u{FFFD}\u{FFFD}evil next")
        #expect(!safe.unicodeScalars.contains { TerminalText.isUnsafe($0) })
        #expect(TerminalText.safe("日本語 🎉 é") == "日本語 🎉 é")
    }

    @Test func theChatScreenNeverPrintsControls() {
        let rows = ChatScreen.wrap([ChatScreen.Segment("a\u{9B}b\u{1B}c", style: "")], width: 20, indent: 2)
        let text = rows.flatMap { $0.map(\.text) }.joined()
        #expect(text == "a\u{FFFD}b\u{FFFD}c")
    }
}
