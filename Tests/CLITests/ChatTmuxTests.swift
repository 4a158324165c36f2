import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import StreamingChatCLI
import Testing

/// Issue 19: `streamingchat chat` in a real terminal emulator (tmux, which measures characters
/// with its own width table) at 80 × 24 and 120 × 40: CJK, emoji and combining marks lose no
/// character and leave none behind, lines wrap between words, and PgUp/End move through the
/// scrollback. Every wait is bounded.
@Suite(.serialized, .enabled(if: ChatBuild.hasChatCommand)) struct ChatTmuxTests {
    /// A tmux server of its own (a private socket), with one window running a command.
    struct Tmux {
        let socket: String

        /// Runs `tmux -S socket arguments…` through the shell (`system`, which waits for the
        /// client alone: the server it may start runs on with its own descriptors).
        @discardableResult
        func run(_ arguments: [String]) throws -> String {
            let output = socket + ".out"
            let quoted = (["tmux", "-S", socket] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
            let status = system("LANG=C.UTF-8 " + quoted.joined(separator: " ") + " >'\(output)' 2>/dev/null </dev/null")
            guard status == 0 else {
                throw DaemonTests.DaemonTestError("tmux \(arguments.joined(separator: " ")) exited with status \(status)")
            }
            return String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
        }

        /// The window's text, a line per row (tmux drops trailing spaces).
        func screen() throws -> [String] {
            try run(["capture-pane", "-p", "-t", "chat"]).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }

        func waitForScreen(_ what: String, _ condition: ([String]) -> Bool) throws {
            _ = try DaemonTests.poll(what, timeout: .seconds(15)) { () -> Bool? in
                condition(try screen()) ? true : nil
            }
        }

        func keys(_ keys: String...) throws { try run(["send-keys", "-t", "chat"] + keys) }
        func kill() { _ = try? run(["kill-server"]) }
    }

    static let wide = "日本語のテキスト 🎉 party e\u{301}te\u{301} café 👩‍👩‍👧 family, and a column of words that wraps"

    @Test(arguments: [(80, 24), (120, 40)])
    func wideCharactersAndScrollbackInTmux(width: Int, height: Int) throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ana, ben, conversation, url) = try DaemonTests.anaAndBen(in: root, conversation: "wide room")
        defer { ana.kill(); ben.kill() }
        try DaemonTests.cli(["join", "--data", ben.data, "--timeout", "10", url])
        for number in 0 ..< 8 {
            try DaemonTests.cli(["send", "--data", ana.data, conversation, "early \(number) " + String(repeating: "filler words ", count: 14)])
        }
        try DaemonTests.cli(["send", "--data", ben.data, conversation, Self.wide])
        _ = try DaemonTests.poll("ben's message on ana's node", timeout: .seconds(10)) { () -> Bool? in
            try DaemonTests.logIDs(ana.data, conversation).count == 9 ? true : nil
        }

        let tmux = Tmux(socket: root + "/tmux")
        let binary = try BenchTraceCommandTests.binary().path
        try tmux.run(["new-session", "-d", "-s", "chat", "-x", "\(width)", "-y", "\(height)",
                      "\(binary) chat --data \(ana.data) \(conversation.prefix(12))"])
        defer { tmux.kill() }
        try tmux.waitForScreen("ben's message") { $0.contains { $0.contains("ben: 日本語のテキスト") } }

        var lines = try tmux.screen()
        #expect(!lines.joined().contains("\u{FFFD}"))
        // The message's rows, joined, hold every character; no row is wider than the window
        // (tmux would have wrapped it onto the next row, shifting the member panel border).
        let start = try #require(lines.firstIndex { $0.contains("ben: 日本語") })
        let messageRows = lines[start...].prefix { !$0.isEmpty && !$0.hasPrefix("/help") }.map { row in
            String(row.prefix { $0 != "│" }).trimmingCharacters(in: .whitespaces)
        }
        let joined = messageRows.joined(separator: " ")
        #expect(joined.contains(Self.wide), "\(messageRows)")
        if width >= 100 {
            // The member panel's border stays in one column on every row.
            let borders = Set(lines.dropFirst().compactMap { line -> Int? in
                guard let index = line.firstIndex(of: "│") else { return nil }
                return TerminalText.width(of: line[..<index])
            })
            #expect(borders.count == 1, "\(lines)")
        }

        // Typing wide characters and erasing some leaves nothing stale behind.
        try tmux.keys("日本語🎉")
        try tmux.waitForScreen("the composer") { $0.last { !$0.isEmpty } == "> 日本語🎉" }
        try tmux.keys("BSpace", "BSpace")
        try tmux.waitForScreen("the composer after two backspaces") { $0.last { !$0.isEmpty } == "> 日本" }
        try tmux.keys("C-u")

        // PgUp shows older messages and says how many rows are newer; End follows the newest.
        try tmux.keys("PPage")
        if height < 40 {
            try tmux.waitForScreen("the scrollback") { screen in
                screen.contains { $0.contains("newer line") } && !screen.contains { $0.contains("ben: 日本語") }
            }
        }
        try tmux.keys("Home")
        try tmux.waitForScreen("the oldest message") { $0.contains { $0.contains("ana: early 0 filler") } }
        try tmux.keys("End")
        try tmux.waitForScreen("the newest again") { screen in
            screen.contains { $0.contains("ben: 日本語") } && !screen.contains { $0.contains("newer line") }
        }
        lines = try tmux.screen()
        #expect(!lines.joined().contains("\u{FFFD}"))
        try tmux.keys("C-c")
    }
}
