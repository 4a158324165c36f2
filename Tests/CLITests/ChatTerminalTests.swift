import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the binary under test offers.
enum ChatBuild {
    /// Whether this build has the `chat` subcommand (registered in `StreamingChat.swift`).
    static let hasChatCommand = ((try? BenchTraceCommandTests.run(["--help"]).stdout) ?? "")
        .split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("chat ") }
}

/// `streamingchat chat` driven in pseudo-terminals against real daemons: sending, receiving,
/// typing indicators, merged edits, a view-only member, and a clean exit. Every wait is bounded.
@Suite(.serialized, .enabled(if: ChatBuild.hasChatCommand)) struct ChatTerminalTests {

    /// A pseudo-terminal of 80 × 24 whose output a reader thread collects and replays onto a tiny
    /// screen model.
    final class PTY {
        final class Output: Sendable {
            let bytes = Mutex<[UInt8]>([])
            let done = Atomic<Bool>(false)
        }

        let master: Int32
        /// The slave side, open until ``closeSlave()``.
        private(set) var slave: Int32
        let output = Output()
        private let reader: Thread
        private var closed = false

        init(width: UInt16 = 80, height: UInt16 = 24) throws {
            // posix_openpt and friends are not visible through Glibc; the same via /dev/ptmx and
            // Linux's TIOCSPTLCK (_IOW('T', 0x31, int)) and TIOCGPTN (_IOR('T', 0x30, unsigned int)).
            master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
            var unlock: Int32 = 0
            var number: UInt32 = 0
            guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
                throw DaemonTests.DaemonTestError("no pseudo-terminal available")
            }
            var size = winsize(ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0)
            _ = ioctl(master, UInt(TIOCSWINSZ), &size)
            slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
            guard slave >= 0 else { throw DaemonTests.DaemonTestError("cannot open /dev/pts/\(number)") }
            let output = self.output
            let fd = master
            reader = Thread {
                var buffer = [UInt8](repeating: 0, count: 4_096)
                while !output.done.load(ordering: .relaxed) {
                    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&descriptor, 1, 50) > 0 else { continue }
                    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    guard count > 0 else { break }
                    output.bytes.withLock { $0 += buffer.prefix(count) }
                }
            }
            reader.start()
        }

        /// Closes this process's copy of the slave side (after handing it to a child).
        func closeSlave() {
            if slave >= 0 { Glibc.close(slave) }
            slave = -1
        }

        /// Types `text` (a `\r` is Enter).
        func type(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
        }

        /// Everything written so far.
        var raw: [UInt8] { output.bytes.withLock { $0 } }

        /// The screen as the terminal would show it now: one string per row.
        var screen: [String] { ScreenModel.render(raw, width: 80, height: 24) }

        /// Waits (≤ `timeout`) until the rows satisfy `condition`.
        func waitForScreen(_ what: String, timeout: Duration = .seconds(10), _ condition: ([String]) -> Bool) throws {
            do {
                _ = try DaemonTests.poll(what, timeout: timeout) { condition(screen) ? true : nil }
            } catch {
                throw DaemonTests.DaemonTestError("\(error)\n--- screen ---\n" + screen.joined(separator: "\n"))
            }
        }

        /// Waits (≤ `timeout`) until some row contains `text`.
        func waitForText(_ text: String, timeout: Duration = .seconds(10)) throws {
            try waitForScreen("the screen to show \(text)", timeout: timeout) { $0.contains { $0.contains(text) } }
        }

        /// Stops the reader and closes both sides; idempotent.
        func close() {
            guard !closed else { return }
            closed = true
            closeSlave()
            output.done.store(true, ordering: .relaxed)
            while !reader.isFinished { usleep(10_000) }
            Glibc.close(master)
        }

        deinit { close() }
    }

    /// A child process with a ``PTY`` as its standard input, output and error.
    final class PTYProcess {
        let process = Process()
        let pty: PTY

        init(_ arguments: [String]) throws {
            pty = try PTY()
            let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
            process.executableURL = try BenchTraceCommandTests.binary()
            process.arguments = arguments
            process.standardInput = handle
            process.standardOutput = handle
            process.standardError = handle
            var environment = ProcessInfo.processInfo.environment
            environment["TZ"] = "UTC"
            process.environment = environment
            try process.run()
            pty.closeSlave()
        }

        func type(_ text: String) { pty.type(text) }
        var raw: [UInt8] { pty.raw }
        func waitForScreen(_ what: String, _ condition: ([String]) -> Bool) throws { try pty.waitForScreen(what, condition) }
        func waitForText(_ text: String) throws { try pty.waitForText(text) }

        /// Waits (≤ 10 s) for the process to exit.
        func waitForExit() -> Bool {
            (try? DaemonTests.poll("chat to exit", timeout: .seconds(10)) { process.isRunning ? nil : true }) != nil
        }

        func kill() {
            if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            pty.close()
        }

        deinit { kill() }
    }

    /// Replays cursor positioning, line and screen clearing, CR and LF onto a grid; other escape
    /// sequences (colours, modes) are skipped.
    enum ScreenModel {
        static func render(_ bytes: [UInt8], width: Int, height: Int) -> [String] {
            var grid = Array(repeating: Array(repeating: Character(" "), count: width), count: height)
            var row = 0, column = 0
            let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
            var index = 0
            while index < scalars.count {
                let scalar = scalars[index]
                index += 1
                switch scalar {
                case "\u{1B}":
                    guard index < scalars.count, scalars[index] == "[" else { index += 1; continue }
                    index += 1
                    var parameters = ""
                    while index < scalars.count, !(0x40 ... 0x7E).contains(scalars[index].value) {
                        parameters.unicodeScalars.append(scalars[index])
                        index += 1
                    }
                    guard index < scalars.count else { break }
                    let final = scalars[index]
                    index += 1
                    let numbers = parameters.split(separator: ";").map { Int($0) ?? 1 }
                    switch final {
                    case "H":
                        row = min(max((numbers.first ?? 1) - 1, 0), height - 1)
                        column = min(max((numbers.count > 1 ? numbers[1] : 1) - 1, 0), width - 1)
                    case "J" where parameters == "2":
                        grid = Array(repeating: Array(repeating: " ", count: width), count: height)
                    case "K":
                        let from = parameters == "2" ? 0 : column
                        for x in from ..< width { grid[row][x] = " " }
                    case "l" where parameters == "?1049":
                        grid = Array(repeating: Array(repeating: " ", count: width), count: height)
                    default:
                        break
                    }
                case "\r": column = 0
                case "\n": row = min(row + 1, height - 1)
                default:
                    if column < width { grid[row][column] = Character(scalar) }
                    column += 1
                }
            }
            return grid.map { String($0).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
        }
    }

    @Test func chatInTerminals() throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dataA = root + "/a", dataB = root + "/b", dataC = root + "/c"
        let ana = try DaemonTests.Daemon(data: dataA, extra: ["--name", "ana"])
        defer { ana.kill() }
        let ben = try DaemonTests.Daemon(data: dataB, extra: ["--name", "ben"])
        defer { ben.kill() }
        let cat = try DaemonTests.Daemon(data: dataC, extra: ["--name", "cat"])
        defer { cat.kill() }

        let conversation = try #require(try DaemonTests.json(["create", "--data", dataA, "pty room"])["conversation"] as? String)
        let comment = try #require(try DaemonTests.json(["invite", "--data", dataA, conversation])["token"] as? String)
        try DaemonTests.cli(["join", "--data", dataB, "--timeout", "10", ana.address, comment])
        let view = try #require(try DaemonTests.json(["invite", "--data", dataA, conversation, "--permission", "view"])["token"] as? String)
        try DaemonTests.cli(["join", "--data", dataC, "--timeout", "10", ana.address, view])

        // Ana's chat: the header, then a message typed and sent reaches Ben's node.
        let anaChat = try PTYProcess(["chat", "--data", dataA, String(conversation.prefix(12))])
        defer { anaChat.kill() }
        try anaChat.waitForText("pty room")
        try anaChat.waitForScreen("ben in ana's member count") { $0.first?.contains("3 members") == true }
        anaChat.type("hello from ana")
        try anaChat.waitForText("> hello from ana")
        anaChat.type("\r")
        _ = try DaemonTests.poll("ana's message on ben's node", timeout: .seconds(10)) { () -> Bool? in
            let messages = try DaemonTests.json(["log", "--data", dataB, conversation])["messages"] as? [[String: Any]] ?? []
            return messages.contains { $0["text"] as? String == "hello from ana" } ? true : nil
        }
        try anaChat.waitForText("ana: hello from ana")

        // Ben sends from the CLI: it shows on Ana's screen.
        let benMessage = try DaemonTests.cli(["send", "--data", dataB, conversation, "hi from ben"])
        try anaChat.waitForText("ben: hi from ben")

        // Ben types in his own chat: Ana sees "ben is typing…", and it goes away once he stops.
        let benChat = try PTYProcess(["chat", "--data", dataB, conversation])
        defer { benChat.kill() }
        try benChat.waitForText("hi from ben")
        benChat.type("x")
        try anaChat.waitForText("ben is typing")
        try anaChat.waitForScreen("the typing line to clear") { !$0.contains { $0.contains("is typing") } }

        // Ben's edit merges and shows as edited.
        try DaemonTests.cli(["edit", "--data", dataB, conversation, benMessage, "hi again from ben"])
        try anaChat.waitForText("ben: hi again from ben (edited)")

        // Cat, view-only, sees why sending is disabled; Enter sends nothing.
        let catChat = try PTYProcess(["chat", "--data", dataC, conversation])
        defer { catChat.kill() }
        try catChat.waitForText("view-only: ask an admin for comment permission")
        catChat.type("let me in\r")
        try catChat.waitForText("> let me in")
        let logged = try DaemonTests.json(["log", "--data", dataC, conversation])["messages"] as? [[String: Any]] ?? []
        #expect(!logged.contains { $0["text"] as? String == "let me in" })

        // Ctrl-C leaves and restores the terminal (the alternate screen is left last).
        anaChat.type("\u{03}")
        #expect(anaChat.waitForExit())
        #expect(anaChat.process.terminationStatus == 0)
        let tail = String(decoding: anaChat.raw.suffix(16), as: UTF8.self)
        #expect(tail.hasSuffix("\u{1B}[?1049l"), "\(tail.debugDescription)")
    }
}
