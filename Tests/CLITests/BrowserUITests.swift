import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Issue 17 (first part): the browser page in real Chromium (headless, driven over the DevTools
/// protocol) against a real daemon: it shows the conversation and its messages, sends one, and
/// shows one sent from the CLI without a reload; the admin shares a link, reads the audit trail,
/// grants an access request; typing reaches another member's node. Every wait is bounded.
@Suite(.serialized) struct BrowserUITests {
    /// The Chromium binary (`make deps` installs it).
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
    /// commands on its descriptor 3, replies on 4, each message ended by a NUL), with one page
    /// attached as a flat session.
    final class Browser: @unchecked Sendable {
        private var pid: pid_t = 0
        private let commands: Int32
        private let replies: Int32
        private var buffer: [UInt8] = []
        private var nextID = 0
        private var session: String?

        init(profile: String) throws {
            var toBrowser: [Int32] = [0, 0], fromBrowser: [Int32] = [0, 0]
            guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw DaemonTests.DaemonTestError("pipe failed") }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
            posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            let binary = try #require(BrowserUITests.chromium)
            let arguments = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-pipe", "--user-data-dir=\(profile)", "--window-size=1200,700"]
            var argv = arguments.map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            guard posix_spawn(&pid, binary, &actions, nil, &argv, environ) == 0 else {
                throw DaemonTests.DaemonTestError("cannot start \(binary)")
            }
            close(toBrowser[0])
            close(fromBrowser[1])
            commands = toBrowser[1]
            replies = fromBrowser[0]
        }

        /// Sends a DevTools command (to the page's session once attached); returns its result.
        @discardableResult
        func call(_ method: String, _ parameters: [String: Any] = [:], toBrowser: Bool = false) throws -> [String: Any] {
            nextID += 1
            var message: [String: Any] = ["id": nextID, "method": method, "params": parameters]
            if !toBrowser, let session { message["sessionId"] = session }
            let bytes = Array(try JSONSerialization.data(withJSONObject: message)) + [0]
            let written = bytes.withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            guard written == bytes.count else { throw DaemonTests.DaemonTestError("cannot write to Chromium") }
            while true {
                let reply = try receive()
                guard reply["id"] as? Int == nextID else { continue }
                if let error = reply["error"] as? [String: Any] {
                    throw DaemonTests.DaemonTestError("\(method): \(error["message"] ?? error)")
                }
                return reply["result"] as? [String: Any] ?? [:]
            }
        }

        /// The next message from Chromium (≤ 20 s).
        private func receive() throws -> [String: Any] {
            let deadline = ContinuousClock.now + .seconds(20)
            while true {
                if let end = buffer.firstIndex(of: 0) {
                    let message = Array(buffer[..<end])
                    buffer.removeFirst(end + 1)
                    return try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] ?? [:]
                }
                guard ContinuousClock.now < deadline else { throw DaemonTests.DaemonTestError("Chromium went silent") }
                var descriptor = pollfd(fd: replies, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 100) > 0 else { continue }
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let count = chunk.withUnsafeMutableBytes { read(replies, $0.baseAddress, $0.count) }
                guard count > 0 else { throw DaemonTests.DaemonTestError("Chromium closed its pipe") }
                buffer += chunk.prefix(count)
            }
        }

        /// Opens `url` in a new page and attaches to it.
        func open(_ url: String) throws {
            let target = try call("Target.createTarget", ["url": url], toBrowser: true)
            let attached = try call("Target.attachToTarget", ["targetId": target["targetId"] ?? "", "flatten": true], toBrowser: true)
            session = attached["sessionId"] as? String
        }

        /// Evaluates `expression` in the page; its value.
        func evaluate(_ expression: String) throws -> Any? {
            let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
            if let exception = result["exceptionDetails"] as? [String: Any] {
                let thrown = (exception["exception"] as? [String: Any])?["description"] ?? exception["text"] ?? "an exception"
                throw DaemonTests.DaemonTestError("script failed in Chromium: \(thrown)")
            }
            return (result["result"] as? [String: Any])?["value"]
        }

        /// Waits (≤ 15 s) until `expression` is true in the page.
        func waitFor(_ what: String, _ expression: String) throws {
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline {
                // The page may still be loading: a script error counts as "not yet".
                if (try? evaluate(expression)) as? Bool == true { return }
                usleep(100_000)
            }
            let notice = (try? evaluate("document.getElementById('notice').textContent")) as? String ?? ""
            throw DaemonTests.DaemonTestError("timed out waiting in Chromium for \(what) (notice: \(notice))")
        }

        /// Saves a PNG of the page under `.build/browser-screenshots/` (beside the test output);
        /// the file's path.
        @discardableResult
        func screenshot(_ name: String) throws -> String {
            let result = try call("Page.captureScreenshot", ["format": "png"])
            let data = try #require(Data(base64Encoded: result["data"] as? String ?? ""))
            let directory = FileManager.default.currentDirectoryPath + "/.build/browser-screenshots"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = directory + "/" + name + ".png"
            try data.write(to: URL(fileURLWithPath: path))
            print("screenshot: \(path)")
            return path
        }

        func stop() {
            close(commands)
            close(replies)
            if pid > 0 {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
    }

    @Test func thePageShowsAndSendsMessagesInChromium() async throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = try DaemonTests.Daemon(data: root + "/a", extra: ["--name", "ana"])
        defer { node.kill() }
        let conversation = try DaemonTests.cli(["create", "--data", node.data, "Browser room"])
        try DaemonTests.cli(["send", "--data", node.data, conversation, "hello from the terminal"])
        let url = try HTTPAPITests.ui(node, conversation).url

        let browser = try Browser(profile: root + "/chromium")
        defer { browser.stop() }
        try browser.open(url)
        try browser.waitFor("the conversation", "document.getElementById('title').textContent === 'Browser room'")
        try browser.waitFor("the message", "document.getElementById('messages').textContent.includes('hello from the terminal')")
        // The login left no code in the address bar, and no secret is readable by script.
        #expect(try browser.evaluate("location.hash + location.search") as? String == "")
        #expect(try browser.evaluate("document.cookie") as? String == "")

        // Typed and sent from the page: it reaches the node's log.
        _ = try browser.evaluate("""
            document.getElementById('text').value = 'hello from Chromium';
            document.getElementById('composer').requestSubmit(); true
            """)
        _ = try DaemonTests.poll("the page's message in the log", timeout: .seconds(15)) { () -> Bool? in
            let messages = try DaemonTests.json(["log", "--data", node.data, conversation])["messages"] as? [[String: Any]] ?? []
            return messages.contains { $0["text"] as? String == "hello from Chromium" } ? true : nil
        }
        // Sent from the CLI: it appears in the page without a reload (the long poll).
        try DaemonTests.cli(["send", "--data", node.data, conversation, "seen live"])
        try browser.waitFor("the live message", "document.getElementById('messages').textContent.includes('seen live')")
        // Own messages have edit and delete buttons; the member list shows ana.
        #expect(try browser.evaluate("document.querySelectorAll('#messages button').length >= 2") as? Bool == true)
        #expect(try browser.evaluate("document.getElementById('member-list').textContent.includes('ana (you)')") as? Bool == true)

        // The admin's share panel: a comment link made in the page is recorded in the log.
        try browser.waitFor("the admin panel", "!document.getElementById('admin').hidden")
        _ = try browser.evaluate("""
            document.getElementById('share-permission').value = 'edit';
            document.getElementById('share').requestSubmit(); true
            """)
        try browser.waitFor("the new link", "document.getElementById('share-link').value.startsWith('streamingchat://join?token=')")
        let links = try DaemonTests.json(["link", "list", "--data", node.data, conversation])["links"] as? [[String: Any]] ?? []
        #expect(links.contains { $0["permission"] as? String == "edit" })
        // The audit trail in the page, filtered by action.
        _ = try browser.evaluate("""
            document.getElementById('audit-action').value = 'link_created';
            document.getElementById('audit').requestSubmit(); true
            """)
        try browser.waitFor("the audit lines", "document.getElementById('audit-list').textContent.includes('link_created ana')")
        #expect(try browser.evaluate("document.getElementById('audit-list').textContent.includes('message_sent')") as? Bool == false)

        // Ben joins with view permission and asks for comment: the request shows in Ana's page,
        // and its grant button gives it to him.
        let ben = try DaemonTests.Daemon(data: root + "/b", extra: ["--name", "ben"])
        defer { ben.kill() }
        let viewLink = try DaemonTests.cli(["link", "create", "--data", node.data, conversation, "--permission", "view"])
        try DaemonTests.cli(["join", "--data", ben.data, "--timeout", "10", viewLink])
        let asked = try DaemonTests.json(["request-access", "--data", ben.data, conversation, "--permission", "comment",
                                          "--note", "let me talk"])
        #expect((asked["peers"] as? Int ?? 0) >= 1, "the request goes out at once: ben's node has a session with ana's")
        try browser.waitFor("ben's request", "document.getElementById('request-list').textContent.includes('ben asks for comment')")
        _ = try browser.evaluate("document.querySelector('#request-list button').click(); true")
        _ = try DaemonTests.poll("ben's comment permission on his node", timeout: .seconds(15)) { () -> Bool? in
            let members = try DaemonTests.json(["members", "--data", ben.data, conversation])["members"] as? [[String: Any]] ?? []
            return members.contains { $0["isSelf"] as? Bool == true && $0["permission"] as? String == "comment" } ? true : nil
        }

        // Typing in the page reaches Ben's node ("ana is typing" in his chat state).
        _ = try browser.evaluate("""
            const input = document.getElementById('text'); input.value = 'typing…';
            input.dispatchEvent(new Event('input')); true
            """)
        let (_, benBase, benKey) = try HTTPAPITests.ui(ben, conversation)
        let deadline = ContinuousClock.now + .seconds(15)
        var typing: [String] = []
        while ContinuousClock.now < deadline {
            let state = try await HTTPAPITests.call("GET", "\(benBase)api/conversations/\(conversation)/state", key: benKey)
            typing = state.json["typing"] as? [String] ?? []
            if typing == ["ana"] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(typing == ["ana"])

        // The WebSocket event stream, opened by page script as an app would: the state first,
        // then events in the plan's names; client events act like the CLI's commands.
        _ = try browser.evaluate("""
            window.streamed = [];
            window.stream = new WebSocket('ws://' + location.host + '/api/conversations/\(conversation)/events');
            window.stream.onmessage = (event) => window.streamed.push(JSON.parse(event.data));
            window.resumed = [];
            const resumed = new WebSocket('ws://' + location.host + '/api/conversations/\(conversation)/events?revision=1');
            resumed.onmessage = (event) => window.resumed.push(JSON.parse(event.data));
            window.refused = 'pending';
            const wrong = new WebSocket('ws://' + location.host + '/api/conversations/\(conversation)/events?key=0');
            wrong.onopen = () => { window.refused = false; };
            wrong.onerror = () => { window.refused = true; };
            true
            """)
        try browser.waitFor("the opening state", "window.streamed.some((e) => e.type === 'state' && e.state.title === 'Browser room')")
        try browser.waitFor("the wrong key refused", "window.refused === true")
        try browser.waitFor("sync_required on a stale revision", "window.resumed.some((e) => e.type === 'sync_required')")
        try DaemonTests.cli(["send", "--data", ben.data, conversation, "streamed to apps"])
        try browser.waitFor("message_received", "window.streamed.some((e) => e.type === 'message_received' && e.message.text === 'streamed to apps')")
        // A client that resumes from the last event it saw (epoch and seq) gets what it missed, and
        // no state; every event is numbered.
        #expect(try browser.evaluate("window.streamed.filter((e) => e.type !== 'error').every((e) => e.epoch > 0 && e.seq >= 0)") as? Bool == true)
        let seen = try #require(try browser.evaluate("Math.max(...window.streamed.map((e) => e.seq ?? 0))") as? Double)
        let epoch = try #require(try browser.evaluate("window.streamed[0].epoch") as? Double)
        try DaemonTests.cli(["send", "--data", ben.data, conversation, "missed while away"])
        _ = try DaemonTests.poll("the missed message at ana", timeout: .seconds(15)) { () -> Bool? in
            let messages = try DaemonTests.json(["log", "--data", node.data, conversation])["messages"] as? [[String: Any]] ?? []
            return messages.contains { $0["text"] as? String == "missed while away" } ? true : nil
        }
        _ = try browser.evaluate("""
            window.replayed = [];
            const again = new WebSocket('ws://' + location.host + '/api/conversations/\(conversation)/events?epoch=\(Int(epoch))&seq=\(Int(seen))');
            again.onmessage = (event) => window.replayed.push(JSON.parse(event.data)); true
            """)
        try browser.waitFor("the missed message replayed", "window.replayed.some((e) => e.type === 'message_received' && e.message.text === 'missed while away')")
        #expect(try browser.evaluate("window.replayed.every((e) => e.type !== 'state' && e.type !== 'sync_required')") as? Bool == true)
        #expect(try browser.evaluate("window.replayed.every((e) => e.seq > \(Int(seen)))") as? Bool == true, "nothing seen is sent again")
        // Another epoch (a restarted node) cannot resume.
        _ = try browser.evaluate("""
            window.otherEpoch = [];
            const other = new WebSocket('ws://' + location.host + '/api/conversations/\(conversation)/events?epoch=1&seq=\(Int(seen))');
            other.onmessage = (event) => window.otherEpoch.push(JSON.parse(event.data)); true
            """)
        try browser.waitFor("sync_required for another epoch", "window.otherEpoch.some((e) => e.type === 'sync_required')")
        // Ben's message is now the last in view: the page publishes it as Ana's cursor, and Ben's
        // node sees where Ana reads.
        var cursors: [[String: Any]] = []
        let cursorDeadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < cursorDeadline {
            let state = try await HTTPAPITests.call("GET", "\(benBase)api/conversations/\(conversation)/state", key: benKey)
            cursors = state.json["cursors"] as? [[String: Any]] ?? []
            if cursors.contains(where: { $0["name"] as? String == "ana" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(cursors.contains { $0["name"] as? String == "ana" })
        _ = try browser.evaluate("""
            window.stream.send(JSON.stringify({ type: 'send_message', text: 'sent over the socket' }));
            window.stream.send(JSON.stringify({ type: 'dance' })); true
            """)
        try browser.waitFor("the unknown event refused", "window.streamed.some((e) => e.type === 'error' && e.message.includes('unknown event type dance'))")
        _ = try DaemonTests.poll("the socket's message in Ben's log", timeout: .seconds(15)) { () -> Bool? in
            let messages = try DaemonTests.json(["log", "--data", ben.data, conversation])["messages"] as? [[String: Any]] ?? []
            return messages.contains { $0["text"] as? String == "sent over the socket" } ? true : nil
        }
        try DaemonTests.cli(["revoke", "--data", node.data, conversation, "ben"])
        try browser.waitFor("user_left", "window.streamed.some((e) => e.type === 'user_left' && e.name === 'ben')")
    }

    /// The issue's end-to-end list, each UI in its own browser against its own node: two users
    /// chat (with the delivery latency measured and printed), the typing indicator comes and
    /// goes, a cursor pill moves when the other scrolls and a click jumps to it, a share link
    /// made in one UI is joined by the other node and shows in the user list, the audit CSV
    /// downloads and parses, hostile text renders as text, and a removal mid-session disables
    /// the removed user's composer with the reason. Screenshots land in .build/browser-screenshots.
    @Test func twoBrowsersChatShareScrollAndRemove() async throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ana = try DaemonTests.Daemon(data: root + "/a", extra: ["--name", "ana"])
        defer { ana.kill() }
        let ben = try DaemonTests.Daemon(data: root + "/b", extra: ["--name", "ben"])
        defer { ben.kill() }
        let conversation = try DaemonTests.cli(["create", "--data", ana.data, "Two browsers"])

        let anaPage = try Browser(profile: root + "/chromium-a")
        defer { anaPage.stop() }
        try anaPage.open(try HTTPAPITests.ui(ana, conversation).url)
        try anaPage.waitFor("Ana's admin panel", "!document.getElementById('admin').hidden")

        // 4. A share link made in Ana's UI; Ben's node joins with it; Ben shows in her user list.
        _ = try anaPage.evaluate("""
            document.getElementById('share-permission').value = 'comment';
            document.getElementById('share-uses').value = '3';
            document.getElementById('share').requestSubmit(); true
            """)
        try anaPage.waitFor("the link", "document.getElementById('share-link').value.startsWith('streamingchat://join?token=')")
        try anaPage.waitFor("the link in the list", "document.getElementById('link-list').textContent.includes('0/3 uses')")
        #expect(try anaPage.evaluate("/^127\\.0\\.0\\.1:[0-9]+\\/[a-z2-7]{16}$/.test(document.getElementById('share-code').value)") as? Bool == true)
        let link = try #require(try anaPage.evaluate("document.getElementById('share-link').value") as? String)
        try DaemonTests.cli(["join", "--data", ben.data, "--timeout", "10", link])
        try anaPage.waitFor("ben in the user list", "[...document.querySelectorAll('#member-list .name')].some((n) => n.textContent === 'ben')")
        try anaPage.waitFor("the link's use", "document.getElementById('link-list').textContent.includes('1/3 uses')")

        let benPage = try Browser(profile: root + "/chromium-b")
        defer { benPage.stop() }
        try benPage.open(try HTTPAPITests.ui(ben, conversation).url)
        try benPage.waitFor("Ben's page", "document.getElementById('title').textContent === 'Two browsers'")

        // 1. Two users chat: each message typed in one page appears in the other. The time from
        // submit to the row appearing is taken on both pages' clocks (one machine).
        let observe = """
            window.seen = {};
            new MutationObserver(() => {
              for (const body of document.querySelectorAll('#messages .body')) window.seen[body.textContent] ??= Date.now();
            }).observe(document.getElementById('messages'), { childList: true, subtree: true }); true
            """
        _ = try anaPage.evaluate(observe)
        _ = try benPage.evaluate(observe)
        var latencies: [Double] = []
        // Six rounds: with the three payloads below, Ben stays within the 10 messages a minute.
        for round in 0 ..< 6 {
            for (sender, receiver, name) in [(anaPage, benPage, "ana"), (benPage, anaPage, "ben")] {
                let text = "\(name) says \(round)"
                let sentAt = try #require(try sender.evaluate("""
                    document.getElementById('text').value = '\(text)';
                    document.getElementById('composer').requestSubmit(); Date.now()
                    """) as? Double)
                try receiver.waitFor("'\(text)' on the other page", "window.seen['\(text)'] !== undefined")
                let seenAt = try #require(try receiver.evaluate("window.seen['\(text)']") as? Double)
                latencies.append(seenAt - sentAt)
            }
        }
        latencies.sort()
        let p95 = latencies[Int((Double(latencies.count) * 0.95).rounded(.up)) - 1]
        print("browser-to-browser delivery over \(latencies.count) messages: p50 \(latencies[latencies.count / 2]) ms, p95 \(p95) ms, max \(latencies.last ?? 0) ms")
        #expect(p95 <= 1_000, "p95 \(p95) ms (target 200 ms on a quiet machine)")

        // 2. Ana types: Ben sees the indicator with its dots; she clears the composer and it goes.
        _ = try anaPage.evaluate("""
            { const input = document.getElementById('text'); input.value = 'thinking'; input.dispatchEvent(new Event('input')); } true
            """)
        try benPage.waitFor("the typing indicator", "document.getElementById('typing-text').textContent === 'ana is typing' && !document.getElementById('typing-dots').hidden")
        _ = try anaPage.evaluate("""
            { const input = document.getElementById('text'); input.value = ''; input.dispatchEvent(new Event('input')); } true
            """)
        try benPage.waitFor("the indicator gone", "document.getElementById('typing-text').textContent === '' && document.getElementById('typing-dots').hidden")

        // 3. Ben's window is short, so the conversation scrolls; he scrolls to the top and his pill
        // in Ana's margin moves up; clicking it jumps Ana's view to the message he reads.
        try benPage.call("Emulation.setDeviceMetricsOverride", ["width": 1200, "height": 330, "deviceScaleFactor": 1, "mobile": false])
        _ = try benPage.evaluate("{ const l = document.getElementById('messages'); l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); } true")
        try anaPage.waitFor("Ben's pill", "[...document.querySelectorAll('#cursor-rail .pill')].some((p) => p.textContent === 'ben')")
        let pillTop = "parseInt([...document.querySelectorAll('#cursor-rail .pill')].find((p) => p.textContent === 'ben').style.top)"
        let before = try #require(try anaPage.evaluate(pillTop) as? Double)
        _ = try benPage.evaluate("{ const l = document.getElementById('messages'); l.scrollTop = 0; l.dispatchEvent(new Event('scroll')); } true")
        try anaPage.waitFor("the pill moving up", "\(pillTop) < \(before)")
        try anaPage.screenshot("ana-with-bens-cursor")
        _ = try anaPage.evaluate("document.getElementById('messages').scrollTop = document.getElementById('messages').scrollHeight; true")
        _ = try anaPage.evaluate("[...document.querySelectorAll('#cursor-rail .pill')].find((p) => p.textContent === 'ben').click(); true")
        try anaPage.waitFor("the jump", """
            (() => { const row = document.querySelector('#messages li.jumped'); if (!row) return false;
              const list = document.getElementById('messages').getBoundingClientRect(), box = row.getBoundingClientRect();
              return box.top >= list.top && box.bottom <= list.bottom; })()
            """)

        // 7. Hostile text renders as text: a message, a custom status and a link label.
        let payloads = ["<img src=x onerror=\"window.pwned=1\">", "</script><script>window.pwned=2</script>", "javascript:window.pwned=3"]
        for payload in payloads { try DaemonTests.cli(["send", "--data", ben.data, conversation, payload]) }
        try DaemonTests.cli(["link", "create", "--data", ana.data, conversation, "--label", "<b onmouseover=window.pwned=4>label</b>"])
        _ = try benPage.evaluate("""
            document.getElementById('presence-text').value = '<svg onload=window.pwned=5>';
            document.getElementById('presence').requestSubmit(); true
            """)
        try anaPage.waitFor("the payloads as text", "document.getElementById('messages').textContent.includes('</script><script>window.pwned=2</script>')")
        try anaPage.waitFor("the status as text", "document.getElementById('member-list').textContent.includes('<svg onload=window.pwned=5>')")
        try anaPage.waitFor("the label as text", "document.getElementById('link-list').textContent.includes('<b onmouseover=window.pwned=4>label</b>')")
        #expect(try anaPage.evaluate("window.pwned === undefined && document.querySelectorAll('#messages img:not(.avatar), #messages script, #member-list svg, #link-list b').length === 0") as? Bool == true)
        #expect(try anaPage.evaluate("document.getElementById('messages').textContent.includes('<img src=x onerror=\"window.pwned=1\">')") as? Bool == true)
        try anaPage.screenshot("ana-hostile-text")

        // 6. The audit CSV, downloaded by its button, parses: a header and one row per entry.
        let downloads = root + "/downloads"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        try anaPage.call("Browser.setDownloadBehavior", ["behavior": "allow", "downloadPath": downloads], toBrowser: true)
        _ = try anaPage.evaluate("document.getElementById('audit-csv').click(); true")
        // The file may be seen before Chromium has written all of it: every row ends in CRLF.
        let csv = try DaemonTests.poll("the downloaded audit.csv", timeout: .seconds(15)) { () -> String? in
            let text = try? String(contentsOfFile: downloads + "/audit.csv", encoding: .utf8)
            return text.flatMap { $0.hasSuffix("\r\n") ? $0 : nil }
        }
        let rows = csv.split(whereSeparator: \.isNewline)
        #expect(rows.first?.hasPrefix("time,action,actor,actor_name") == true)
        #expect(rows.filter { $0.contains(",message_sent,") }.count >= 15)
        #expect(rows.contains { $0.contains(",link_created,") })

        // A direct invitation to another conversation shows in Ben's page; accepting it there joins
        // and opens it.
        let second = try DaemonTests.cli(["create", "--data", ana.data, "Second room"])
        try DaemonTests.cli(["invite", "--data", ana.data, second, ben.key, "--permission", "comment"])
        try benPage.waitFor("the invitation", "!document.getElementById('invitations').hidden && document.getElementById('invitation-list').textContent.includes('as comment')")
        _ = try benPage.evaluate("document.querySelector('#invitation-list .accept').click(); true")
        try benPage.waitFor("the second conversation open", "document.getElementById('title').textContent === 'Second room'")
        #expect(try benPage.evaluate("document.getElementById('conversation-list').textContent.includes('Two browsers')") as? Bool == true)
        let invitations = try DaemonTests.json(["invitations", "--data", ana.data, second])["invitations"] as? [[String: Any]] ?? []
        #expect(invitations.contains { $0["state"] as? String == "accepted" }, "\(invitations)")
        _ = try benPage.evaluate("[...document.querySelectorAll('#conversation-list li')].find((li) => li.textContent === 'Two browsers').click(); true")
        try benPage.waitFor("back in the first conversation", "document.getElementById('title').textContent === 'Two browsers'")

        // Presence: Ben's page goes away after 5 minutes without activity (its clock moved on),
        // then he sets do-not-disturb with a preset status; Ana's member list follows.
        _ = try benPage.evaluate("""
            { const real = Date.now; Date.now = () => real() + 6 * 60 * 1000; document.dispatchEvent(new Event('visibilitychange')); } true
            """)
        try anaPage.waitFor("ben away", "document.querySelector('#member-list li[data-key=\"\(ben.key)\"] .dot').classList.contains('away')")
        _ = try benPage.evaluate("""
            document.getElementById('presence-status').value = 'dnd';
            document.getElementById('presence-text').value = 'Focusing';
            document.getElementById('presence').requestSubmit(); true
            """)
        try anaPage.waitFor("ben in dnd", """
            document.querySelector('#member-list li[data-key="\(ben.key)"] .dot').classList.contains('dnd')
              && document.querySelector('#member-list li[data-key="\(ben.key)"] .detail').textContent.includes('Focusing')
            """)

        // A second invitation, declined in the page; and a link revoked from Ana's list.
        let third = try DaemonTests.cli(["create", "--data", ana.data, "Third room"])
        try DaemonTests.cli(["invite", "--data", ana.data, third, ben.key])
        try benPage.waitFor("the second invitation", "document.querySelector('#invitation-list .decline') !== null")
        _ = try benPage.evaluate("document.querySelector('#invitation-list .decline').click(); true")
        _ = try DaemonTests.poll("the decline at ana", timeout: .seconds(15)) { () -> Bool? in
            let invitations = try DaemonTests.json(["invitations", "--data", ana.data, third])["invitations"] as? [[String: Any]] ?? []
            return invitations.contains { $0["state"] as? String == "declined" } ? true : nil
        }
        try benPage.waitFor("no invitation left", "document.getElementById('invitations').hidden")
        _ = try anaPage.evaluate("document.querySelector('#link-list li.active button').click(); true")
        try anaPage.waitFor("the link revoked", "document.querySelector('#link-list li.revoked') !== null")

        // 5. Ana removes Ben from her member list; his composer is disabled with the reason.
        _ = try anaPage.evaluate("""
            window.confirm = () => true;
            document.querySelector('#member-list li[data-key="\(ben.key)"] .remove').click(); true
            """)
        try benPage.waitFor("the removal", "document.getElementById('text').disabled && document.getElementById('text').placeholder.includes('removed from this conversation by ana')")
        #expect(try benPage.evaluate("document.getElementById('notice').textContent.includes('you were removed')") as? Bool == true)
        try benPage.screenshot("ben-removed")
    }

    /// A conversation of 10,000 messages paints its newest messages within a second of opening
    /// the page: the list is windowed (200 rows), and "Show earlier" adds 200 more. The time
    /// from navigation to the first messages on screen is printed.
    @Test func tenThousandMessagesPaintWithinASecond() throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let conversation = try DaemonTests.cli(["debug", "fill", "--data", root + "/a", "--messages", "10000", "--title", "Big room"])
        let node = try DaemonTests.Daemon(data: root + "/a")
        defer { node.kill() }
        let browser = try Browser(profile: root + "/chromium")
        defer { browser.stop() }
        try browser.open(try HTTPAPITests.ui(node, conversation).url)
        // Three loads (the login's, then two reloads); the median is held to the target.
        var paints: [Double] = []
        for load in 0 ..< 3 {
            if load > 0 { _ = try browser.evaluate("location.reload(); true") ; usleep(200_000) }
            try browser.waitFor("the newest message", "document.getElementById('messages').textContent.includes('message 10000 of 10000')")
            try browser.waitFor("the paint mark", "performance.getEntriesByName('first-messages').length === 1")
            paints.append(try #require(try browser.evaluate("performance.getEntriesByName('first-messages')[0].startTime") as? Double))
        }
        let median = paints.sorted()[1]
        print("first paint of a 10,000-message conversation: \(paints.map { "\(Int($0)) ms" }.joined(separator: ", ")) after navigation (median \(Int(median)) ms)")
        #expect(median <= 1_000, "\(paints)")
        #expect(try browser.evaluate("document.querySelectorAll('#messages li[data-id]').length") as? Int == 200)
        _ = try browser.evaluate("document.querySelector('#messages .earlier button').click(); true")
        try browser.waitFor("200 more", "document.querySelectorAll('#messages li[data-id]').length === 400")
        #expect(try browser.evaluate("document.getElementById('messages').textContent.includes('message 9601 of 10000')") as? Bool == true)
        try browser.screenshot("ten-thousand-messages")
    }
}
