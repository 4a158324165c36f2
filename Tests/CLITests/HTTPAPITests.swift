import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import ChatHTTP
import Testing

/// Issue 17 (first part): the node's HTTP API and browser UI, served by a real daemon started as
/// the README says: on loopback, behind the key `streamingchat ui` prints, with the CLI's error
/// codes; the page itself is served with a content security policy and loads nothing from outside.
@Suite(.serialized) struct HTTPAPITests {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func call(_ method: String, _ url: String, key: String?, body: [String: Any]? = nil) async throws -> Reply {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = method
        if let key { request.setValue("Bearer " + key, forHTTPHeaderField: "Authorization") }
        if let body { request.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields { headers[String(describing: name).lowercased()] = String(describing: value) }
        return Reply(status: http.statusCode, headers: headers, body: data)
    }

    /// What `streamingchat ui` prints for `node` (once its HTTP API listens): the one-time login
    /// URL, the base address, and the key apps use (from `DIR/http.key`).
    static func ui(_ node: DaemonTests.Daemon, _ conversation: String? = nil) throws -> (url: String, base: String, key: String) {
        _ = try DaemonTests.poll("the HTTP address") { () -> Bool? in
            FileManager.default.fileExists(atPath: node.data + "/http.address") ? true : nil
        }
        let url = try DaemonTests.cli(["ui", "--data", node.data] + (conversation.map { [$0] } ?? []))
        let base = String(url.prefix { $0 != "?" }.dropLast("login".count))
        let key = try String(contentsOfFile: node.data + "/http.key", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return (url, base, key)
    }

    /// What `curl` (no redirects followed) gets for `url`: the status line's code, the headers
    /// (lower-case names; repeated ones joined by newlines) and the body. Bounded to 5 s, so a
    /// WebSocket that upgrades returns its 101 once the time is up.
    static func curl(_ url: String, method: String = "GET", headers: [String] = [], body: String? = nil) throws -> Reply {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["curl", "-s", "-D", "-", "--max-time", "3", "-X", method, url]
        for header in headers { arguments += ["-H", header] }
        if let body { arguments += ["--data-binary", body] }
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let split = text.range(of: "\r\n\r\n")
        let head = split.map { String(text[..<$0.lowerBound]) } ?? text
        let lines = head.components(separatedBy: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            fields[name] = fields[name].map { $0 + "\n" + value } ?? value
        }
        return Reply(status: status, headers: fields, body: Data((split.map { String(text[$0.upperBound...]) } ?? "").utf8))
    }

    @Test func theAPIDrivesANodeBehindItsKey() async throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = try DaemonTests.Daemon(data: root + "/a", extra: ["--name", "ana"])
        defer { node.kill() }
        let conversation = try DaemonTests.cli(["create", "--data", node.data, "Team"])
        let (url, base, key) = try Self.ui(node, "team")
        #expect(base.hasPrefix("http://127.0.0.1:"), "\(url)")
        #expect(key.count == 64)
        #expect(url.contains("/login?code=") && url.hasSuffix("&conversation=" + conversation), "\(url)")
        #expect(!url.contains(key), "the printed address carries a one-time code, never the key")
        // The key file is the owner's alone.
        let attributes = try FileManager.default.attributesOfItem(atPath: node.data + "/http.key")
        #expect((attributes[.posixPermissions] as? Int ?? 0) & 0o077 == 0)

        // The page: served without the key (it holds none), with a CSP, loading only its own files.
        let page = try await Self.call("GET", base, key: nil)
        #expect(page.status == 200)
        #expect(page.text.contains("<title>StreamingChat</title>"))
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
        #expect(page.headers["content-security-policy"]?.contains("frame-ancestors 'none'") == true)
        #expect(!page.text.contains("http://") && !page.text.contains("https://"))
        #expect(try await Self.call("GET", base + "app.js", key: nil).status == 200)

        // Without the key, or with a wrong one: 401 unauthorized.
        let refused = try await Self.call("GET", base + "api/status", key: nil)
        #expect(refused.status == 401)
        #expect((refused.json["error"] as? [String: Any])?["code"] as? String == "unauthorized")
        #expect(try await Self.call("GET", base + "api/status", key: String(repeating: "0", count: 64)).status == 401)

        // With it: the same commands as the CLI.
        let status = try await Self.call("GET", base + "api/status", key: key)
        #expect(status.status == 200 && status.json["identity"] as? String == node.key)
        let sent = try await Self.call("POST", base + "api/conversations/\(conversation)/messages", key: key, body: ["text": "from the web"])
        #expect(sent.status == 200)
        let id = try #require(sent.json["id"] as? String)
        let edited = try await Self.call("PATCH", base + "api/conversations/\(conversation)/messages/\(id)", key: key,
                                         body: ["text": "edited on the web"])
        #expect(edited.status == 200)
        let log = try DaemonTests.json(["log", "--data", node.data, conversation])["messages"] as? [[String: Any]] ?? []
        #expect(log.contains { $0["text"] as? String == "edited on the web" && $0["edited"] as? Bool == true })

        // The chat state, and a long poll that answers when something changes.
        let state = try await Self.call("GET", base + "api/conversations/\(conversation)/state", key: key)
        let revision = try #require(state.json["revision"] as? Int)
        #expect(state.json["title"] as? String == "Team")
        async let waited = Self.call("GET", base + "api/conversations/\(conversation)/state?after=\(revision)&wait=10000", key: key)
        try await Task.sleep(for: .milliseconds(300))
        try DaemonTests.cli(["send", "--data", node.data, conversation, "while you waited"])
        let next = try await waited
        #expect((next.json["messages"] as? [[String: Any]] ?? []).contains { $0["text"] as? String == "while you waited" })

        // Errors carry the CLI's codes with a fitting status.
        let missing = try await Self.call("GET", base + "api/conversations/ffff/messages", key: key)
        #expect(missing.status == 404 && (missing.json["error"] as? [String: Any])?["code"] as? String == "unknown_conversation")
        let unknown = try await Self.call("POST", base + "api/command", key: key, body: ["command": "nope", "arguments": [:]])
        #expect(unknown.status == 400 && (unknown.json["error"] as? [String: Any])?["code"] as? String == "unknown_command")
        let command = try await Self.call("POST", base + "api/command", key: key,
                                          body: ["command": "members", "arguments": ["conversation": conversation]])
        #expect((command.json["members"] as? [[String: Any]])?.count == 1)

        // The audit trail as a CSV download; deleting from the web.
        let audit = try await Self.call("GET", base + "api/conversations/\(conversation)/audit?format=csv", key: key)
        #expect(audit.status == 200 && audit.headers["content-type"]?.hasPrefix("text/csv") == true)
        #expect(audit.text.hasPrefix("time,action,actor,actor_name"))
        let deleted = try await Self.call("DELETE", base + "api/conversations/\(conversation)/messages/\(id)", key: key)
        #expect(deleted.status == 200)

        // `ui --open` hands the browser an owner-only page in the data directory, never the code
        // on a command line (other local users can read those).
        let bin = root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let opener = bin + "/xdg-open"
        try "#!/bin/sh\necho \"$@\" > \(root)/opened\n".write(toFile: opener, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: opener)
        let open = Process()
        open.executableURL = try BenchTraceCommandTests.binary()
        open.arguments = ["ui", "--data", node.data, "--open"]
        open.environment = ["PATH": bin + ":/usr/bin:/bin"]
        open.standardOutput = FileHandle.nullDevice
        try open.run()
        open.waitUntilExit()
        let opened = try DaemonTests.poll("xdg-open's argument") { () -> String? in
            (try? String(contentsOfFile: root + "/opened", encoding: .utf8)).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        #expect(opened == "file://" + node.data + "/ui-open.html" && !opened.contains("code="), "\(opened)")
        let redirect = try String(contentsOfFile: node.data + "/ui-open.html", encoding: .utf8)
        #expect(redirect.contains("http-equiv=\"refresh\"") && redirect.contains("/login?code="))
        let pageMode = try FileManager.default.attributesOfItem(atPath: node.data + "/ui-open.html")[.posixPermissions] as? Int ?? 0
        #expect(pageMode & 0o077 == 0)

        // `--http off` serves nothing.
        let quiet = try DaemonTests.Daemon(data: root + "/b", extra: ["--http", "off"])
        defer { quiet.kill() }
        #expect(!FileManager.default.fileExists(atPath: quiet.data + "/http.address"))
    }

    /// The page logs in through the one-time address: an HttpOnly, SameSite=Strict cookie, good
    /// once; with the cookie, writes must come from the page's own origin, and so must every
    /// WebSocket.
    @Test func theOneTimeAddressLogsInWithACookieFromThisOriginOnly() async throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = try DaemonTests.Daemon(data: root + "/a", extra: ["--name", "ana"])
        defer { node.kill() }
        let conversation = try DaemonTests.cli(["create", "--data", node.data, "Team"])
        let (url, base, key) = try Self.ui(node, conversation)
        let origin = String(base.dropLast())

        let login = try Self.curl(url)
        #expect(login.status == 303)
        #expect(login.headers["location"] == "/#conversation=" + conversation)
        let setCookie = try #require(login.headers["set-cookie"])
        #expect(setCookie.hasPrefix(AccessKey(key).cookieName + "=") && setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict")
                && setCookie.contains("Max-Age=2592000"), "\(setCookie)")
        #expect(AccessKey(key).cookieName != AccessKey(String(repeating: "0", count: 64)).cookieName, "one cookie per node")
        let cookie = "Cookie: " + String(setCookie.prefix { $0 != ";" })
        #expect(!cookie.contains(key), "the cookie is derived from the key, not the key")
        // Once only; a changed code never.
        #expect(try Self.curl(url).status == 401)
        #expect(try Self.curl(try DaemonTests.cli(["ui", "--data", node.data]).replacingOccurrences(of: "code=", with: "code=1")).status == 401)

        // The cookie reads; a write with it needs this origin.
        #expect(try Self.curl(base + "api/status", headers: [cookie]).status == 200)
        #expect(try Self.curl(base + "api/status", headers: ["Cookie: \(AccessKey(key).cookieName)=00"]).status == 401)
        let messages = base + "api/conversations/\(conversation)/messages"
        let body = #"{"text":"from the page"}"#
        let bare = try Self.curl(messages, method: "POST", headers: [cookie], body: body)
        #expect(bare.status == 403 && (bare.json["error"] as? [String: Any])?["code"] as? String == "forbidden_origin")
        #expect(try Self.curl(messages, method: "POST", headers: [cookie, "Origin: http://evil.example"], body: body).status == 403)
        #expect(try Self.curl(messages, method: "POST", headers: [cookie, "Origin: " + origin], body: body).status == 200)
        // An app's bearer key needs no origin.
        #expect(try Self.curl(messages, method: "POST", headers: ["Authorization: Bearer " + key], body: #"{"text":"from an app"}"#).status == 200)

        // The WebSocket: upgraded for this origin, refused for another, and without a secret.
        let upgrade = ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
        let events = base + "api/conversations/\(conversation)/events"
        #expect(try Self.curl(events, headers: upgrade + [cookie, "Origin: " + origin]).status == 101)
        #expect(try Self.curl(events, headers: upgrade + [cookie, "Origin: http://evil.example"]).status != 101)
        #expect(try Self.curl(events, headers: upgrade + ["Origin: " + origin]).status != 101)
        #expect(try Self.curl(events, headers: upgrade + ["Authorization: Bearer " + key]).status == 101)
    }

    /// Login codes: good until they expire, only as signed, and once.
    @Test func loginCodesExpireAndWorkOnce() {
        let access = AccessKey(String(repeating: "ab", count: 32))
        let nonce = [UInt8](repeating: 7, count: 16)
        let code = access.loginCode(now: 1_000, nonce: nonce)
        #expect(access.nonce(ofLoginCode: code, now: 1_000) != nil)
        #expect(access.nonce(ofLoginCode: code, now: 1_000 + AccessKey.loginLifetime) != nil)
        #expect(access.nonce(ofLoginCode: code, now: 1_001 + AccessKey.loginLifetime) == nil)
        #expect(AccessKey(String(repeating: "cd", count: 32)).nonce(ofLoginCode: code, now: 1_000) == nil)
        let parts = code.split(separator: ".")
        #expect(access.nonce(ofLoginCode: "9999.\(parts[1]).\(parts[2])", now: 1_000) == nil, "the expiry is signed")
        #expect(access.nonce(ofLoginCode: "garbage", now: 1_000) == nil)
        let codes = LoginCodes()
        #expect(codes.redeem("n1", now: 1_000))
        #expect(!codes.redeem("n1", now: 1_100))
        #expect(codes.redeem("n2", now: 1_100))
    }

    /// The daemon logs with swift-log at `--log-level`, and exports swift-metrics in Prometheus
    /// format on `/metrics` (behind the key): sessions, batches ingested, commit and catch-up
    /// durations, frame bytes both ways, pending bytes.
    @Test func theDaemonLogsAtItsLevelAndExportsMetrics() async throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let refused = try BenchTraceCommandTests.run(["serve", "--data", root + "/x", "--log-level", "loud"])
        #expect(refused.status != 0 && refused.stderr.contains("--log-level must be one of trace, debug, info"), "\(refused.stderr)")

        let (ana, ben, conversation, url) = try DaemonTests.anaAndBen(in: root, conversation: "Measured")
        defer { ana.kill(); ben.kill() }
        try DaemonTests.cli(["join", "--data", ben.data, "--timeout", "10", url])
        try DaemonTests.cli(["send", "--data", ben.data, conversation, "counted"])
        _ = try DaemonTests.poll("ben's message at ana", timeout: .seconds(15)) { () -> Bool? in
            let messages = try DaemonTests.json(["log", "--data", ana.data, conversation])["messages"] as? [[String: Any]] ?? []
            return messages.contains { $0["text"] as? String == "counted" } ? true : nil
        }

        let (_, base, key) = try Self.ui(ana)
        #expect(try await Self.call("GET", base + "metrics", key: nil).status == 401)
        let metrics = try await Self.call("GET", base + "metrics", key: key)
        #expect(metrics.status == 200 && metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        func value(_ line: String) -> Double? {
            metrics.text.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect((value("streamingchat_sessions") ?? 0) >= 1, "\(metrics.text)")
        #expect((value("streamingchat_batches_ingested_total") ?? 0) >= 3, "genesis, link, ben's join and message")
        #expect((value(#"streamingchat_frame_bytes_total{direction="in"}"#) ?? 0) > 0)
        #expect((value(#"streamingchat_frame_bytes_total{direction="out"}"#) ?? 0) > 0)
        #expect((value("streamingchat_commit_duration_seconds_count") ?? 0) >= 3)
        #expect(metrics.text.contains("streamingchat_catch_up_duration_seconds_bucket"))
        #expect(metrics.text.contains("streamingchat_pending_bytes{conversation=\"\(conversation.prefix(16))\"} 0"))

        // The log at the default level (info) says when sessions open and who joined.
        let log = try String(contentsOfFile: ana.data + ".err", encoding: .utf8)
        #expect(log.contains("info streamingchat: [ChatNode] session connected with sc1"), "\(log)")
        #expect(log.contains(" joined \(conversation.prefix(12))"), "\(log)")
        #expect(!log.contains(" debug "), "nothing below info at the default level")
    }
}
