import Foundation
import Testing

/// Issue 19: short, copy-safe invite codes. `link create` gives each share link a code,
/// `host:port/` and 16 base32 characters; the log keeps only its lookup hash and the token
/// sealed under it, so the node it names, or any other member's, resolves it; `join` takes it.
@Suite(.serialized) struct InviteCodeTests {
    @Test func aShortCodeJoinsThroughAnyMember() throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ana, ben, conversation, _) = try DaemonTests.anaAndBen(in: root, conversation: "Coded")
        defer { ana.kill(); ben.kill() }
        let cat = try DaemonTests.Daemon(data: root + "/c", extra: ["--name", "cat"])
        defer { cat.kill() }

        let link = try DaemonTests.json(["link", "create", "--data", ana.data, conversation, "--permission", "comment", "--uses", "5"])
        let code = try #require(link["code"] as? String)
        print("invite code: \(code) (\(code.count) characters)")
        #expect(code.count <= 60)
        #expect(code.hasPrefix(ana.address + "/"))
        #expect(code.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ":./".contains($0)) }, "no shell or URL metacharacters")
        // Without --json the URL stays alone on stdout and the code is said, quoted, on stderr.
        let plain = try BenchTraceCommandTests.run(["link", "create", "--data", ana.data, conversation])
        #expect(plain.stdout.hasPrefix("streamingchat://join?token=") && plain.stdout.split(separator: "\n").count == 1)
        #expect(plain.stderr.contains("short code (join takes it too): '\(ana.address)/"), "\(plain.stderr)")

        // Ben joins with the code, upper-cased as a chat app might send it.
        let secret = String(code.split(separator: "/").last ?? "")
        let joined = try DaemonTests.cli(["join", "--data", ben.data, "--timeout", "10", ana.address + "/" + secret.uppercased()])
        #expect(joined == conversation)
        let members = try DaemonTests.json(["members", "--data", ana.data, conversation])["members"] as? [[String: Any]] ?? []
        #expect(members.contains { $0["name"] as? String == "ben" && $0["permission"] as? String == "comment" })

        // A secret no link has is refused as such.
        let wrong = try BenchTraceCommandTests.run(["join", "--data", cat.data, "--timeout", "10", ana.address + "/aaaaaaaaaaaaaaaa"])
        #expect(wrong.status == 1 && wrong.stderr.contains("invalid_invite"), "\(wrong.stderr)")

        // Ben's node holds the record too: the same secret at his address admits Cat (through Ben).
        let viaBen = try DaemonTests.cli(["join", "--data", cat.data, "--timeout", "10", ben.address + "/" + secret])
        #expect(viaBen == conversation)
        let links = try DaemonTests.json(["link", "list", "--data", ana.data, conversation])["links"] as? [[String: Any]] ?? []
        #expect(links.contains { $0["uses"] as? Int == 2 && $0["useLimit"] as? Int == 5 })

        // A revoked link's code resolves no more: it is refused like an unknown one.
        let revoked = try DaemonTests.json(["link", "create", "--data", ana.data, conversation])
        try DaemonTests.cli(["link", "revoke", "--data", ana.data, conversation, try #require(revoked["tokenID"] as? String)])
        let closed = try BenchTraceCommandTests.run(["join", "--data", cat.data, "--timeout", "10", try #require(revoked["code"] as? String)])
        #expect(closed.status == 1 && closed.stderr.contains("invalid_invite"), "\(closed.stderr)")
    }
}
