import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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

    /// What `streamingchat ui` prints for `node` (once its HTTP API listens): the whole URL, the
    /// base address and the key.
    static func ui(_ node: DaemonTests.Daemon, _ conversation: String? = nil) throws -> (url: String, base: String, key: String) {
        _ = try DaemonTests.poll("the HTTP address") { () -> Bool? in
            FileManager.default.fileExists(atPath: node.data + "/http.address") ? true : nil
        }
        let url = try DaemonTests.cli(["ui", "--data", node.data] + (conversation.map { [$0] } ?? []))
        let parts = url.split(separator: "#", maxSplits: 1).map(String.init)
        let key = parts.count == 2 ? parts[1].split(separator: "&").first { $0.hasPrefix("key=") }?.dropFirst(4) : nil
        return (url, parts[0], key.map(String.init) ?? "")
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
        #expect(url.hasSuffix("&conversation=" + conversation), "\(url)")
        // The key file is the owner's alone.
        let attributes = try FileManager.default.attributesOfItem(atPath: node.data + "/http.key")
        #expect((attributes[.posixPermissions] as? Int ?? 0) & 0o077 == 0)

        // The page: served without the key (it holds none), with a CSP, loading only its own files.
        let page = try await Self.call("GET", base, key: nil)
        #expect(page.status == 200)
        #expect(page.text.contains("<title>StreamingChat</title>"))
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
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

        // `--http off` serves nothing.
        let quiet = try DaemonTests.Daemon(data: root + "/b", extra: ["--http", "off"])
        defer { quiet.kill() }
        #expect(!FileManager.default.fileExists(atPath: quiet.data + "/http.address"))
    }
}
