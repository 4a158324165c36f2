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
        // An arrow key is dropped; "é" split across two reads arrives whole.
        let accent = Array("é".utf8)
        #expect(decoder.keys(from: [0x1B, 0x5B, 0x41, accent[0]]) == [])
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
        ("/invite", .invite(permission: "comment")),
        ("/invite view", .invite(permission: "view")),
        ("/invite edit Cat Stevens", .invite(permission: "edit", invitee: "Cat Stevens")),
        ("/invite owner", .invite(permission: "comment", invitee: "owner")),
        ("/accept e754ce6b", .answerInvitation(id: "e754ce6b", accept: true)),
        ("/decline e754ce6b", .answerInvitation(id: "e754ce6b", accept: false)),
        ("/accept", .redraw),
        ("/status dnd in a meeting", .setStatus(status: "dnd", text: "in a meeting")),
        ("/status away", .setStatus(status: "away", text: nil)),
        ("/audit", .audit),
        ("/request edit please", .requestAccess(permission: "edit", note: "please")),
        ("/quit", .quit),
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
        #expect(screen.handle(.enter) == .requestAccess(permission: "comment", note: ""))
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
        #expect(screen.handle(.enter) == .redraw)
        #expect(screen.notice == ["e754ce6b  edit in 47e4af7a6add \"project\"  from sc1anaanaanaanaa…  (/accept or /decline e754ce6b)"])
        state.invitations = []
        screen.state = state
        screen.composer = "/invitations"
        _ = screen.handle(.enter)
        #expect(screen.notice == ["no pending invitations"])
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
        #expect(Self.plain(screen.lines(width: 80, height: 24))[22] == (expected ?? ""))
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
