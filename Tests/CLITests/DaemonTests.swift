import Foundation
import Testing

/// Two `streamingchat serve` daemons as child processes, driven only through the CLI: create,
/// invite, join, concurrent sends, convergence, a SIGKILL and restart with catch-up, the status
/// contract, and revoking a member. Every wait is bounded.
@Suite(.serialized) struct DaemonTests {
    /// A running `serve` child process and what its ready line said.
    final class Daemon {
        let process: Process
        let data: String
        let key: String
        let address: String

        /// Starts `serve --data data --listen 127.0.0.1:0 extra…` and waits (≤ 20 s) for its ready line.
        /// Its log (stderr) goes to `data.err`.
        init(data: String, extra: [String] = []) throws {
            let out = data + ".out"
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            process = Process()
            process.executableURL = try BenchTraceCommandTests.binary()
            process.arguments = ["serve", "--data", data, "--listen", "127.0.0.1:0"] + extra
            process.standardOutput = handle
            _ = FileManager.default.createFile(atPath: data + ".err", contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: data + ".err"))
            process.standardError = log
            try process.run()
            try handle.close()
            try log.close()
            self.data = data
            let line = try DaemonTests.poll("the ready line of \(data)") { () -> String? in
                guard let text = try? String(contentsOfFile: out, encoding: .utf8),
                      let line = text.split(separator: "\n").first(where: { $0.contains(" listening on ") })
                else { return nil }
                return String(line)
            }
            // streamingchat: node <key> listening on <addr>, control socket <path>
            let words = line.split(separator: " ")
            guard words.count >= 8, words[1] == "node" else { throw DaemonTestError("unexpected ready line: \(line)") }
            key = String(words[2])
            address = String(words[5].dropLast())
        }

        /// Kills the process (SIGKILL) unless it has exited; waits for it.
        func kill() {
            if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        deinit { kill() }
    }

    struct DaemonTestError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Polls `condition` every 20 ms for at most `timeout`.
    static func poll<T>(_ what: String, timeout: Duration = .seconds(20), _ condition: () throws -> T?) throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let value = try condition() { return value }
            guard clock.now < deadline else { throw DaemonTestError("timed out waiting for \(what)") }
            usleep(20_000)
        }
    }

    /// A short private directory (Unix socket paths must stay under 108 bytes).
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/scd-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw DaemonTestError("mkdtemp failed") }
        return String(cString: path)
    }

    /// Runs a client command; throws with its stderr unless it exits 0.
    @discardableResult
    static func cli(_ arguments: [String]) throws -> String {
        let result = try BenchTraceCommandTests.run(arguments)
        guard result.status == 0 else {
            throw DaemonTestError("`\(arguments.joined(separator: " "))` exited \(result.status): \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A JSON object printed by a `--json` command.
    static func json(_ arguments: [String]) throws -> [String: Any] {
        let text = try cli(arguments + ["--json"])
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw DaemonTestError("not a JSON object: \(text)")
        }
        return object
    }

    /// The message ids of `log --json`, in order.
    static func logIDs(_ data: String, _ conversation: String) throws -> [String] {
        let messages = try json(["log", "--data", data, conversation])["messages"] as? [[String: Any]] ?? []
        return messages.compactMap { $0["id"] as? String }
    }

    /// Runs `count` sends from each node at once; every one must succeed. Returns the ids they printed.
    @discardableResult
    static func sendConcurrently(_ nodes: [String], count: Int, conversation: String, tag: String) throws -> [String] {
        var processes: [(Process, Pipe, Pipe)] = []
        defer {
            for (process, _, _) in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        for (index, data) in nodes.enumerated() {
            for number in 0 ..< count {
                let process = Process()
                process.executableURL = try BenchTraceCommandTests.binary()
                process.arguments = ["send", "--data", data, conversation, "\(tag) node\(index) #\(number)"]
                let output = Pipe(), errors = Pipe()
                process.standardOutput = output
                process.standardError = errors
                try process.run()
                processes.append((process, output, errors))
            }
        }
        var ids: [String] = []
        for (process, output, errors) in processes {
            // Bounded: the client gives up after its own 30 s control timeout.
            let id = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "a concurrent send failed: \(message)")
            ids.append(id.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return ids
    }

    @Test func twoDaemonsConvergeSurviveAKillAndRevoke() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dataA = root + "/a", dataB = root + "/b"

        let nodeA = try Daemon(data: dataA, extra: ["--name", "alice"])
        defer { nodeA.kill() }
        var nodeB = try Daemon(data: dataB, extra: ["--name", "bob"])
        defer { nodeB.kill() }

        let conversation = try Self.json(["create", "--data", dataA, "daemon test"])["conversation"] as? String ?? ""
        #expect(conversation.count == 64)
        let invite = try Self.json(["invite", "--data", dataA, conversation, "--permission", "comment"])
        let token = try #require(invite["token"] as? String)
        let joined = try Self.json(["join", "--data", dataB, nodeA.address, token])
        #expect(joined["conversation"] as? String == conversation)

        // 6 sends from each side at once (the default rules allow 10 messages per author per
        // minute, and A sends 4 more below); both logs converge on the same ids in the same order.
        let sent = try Self.sendConcurrently([dataA, dataB], count: 6, conversation: conversation, tag: "first")
        let initial = try Self.poll("both logs to hold 12 messages in the same order") { () -> [String]? in
            let a = try Self.logIDs(dataA, conversation), b = try Self.logIDs(dataB, conversation)
            return a.count == 12 && a == b ? a : nil
        }
        #expect(Set(initial).count == 12)
        // Each send reported its own message's id.
        #expect(Set(sent) == Set(initial), "sent \(sent.sorted()), logged \(initial.sorted())")

        // An edit on A and a delete on B reach the other side.
        let entries = try Self.json(["log", "--data", dataA, conversation])["messages"] as? [[String: Any]] ?? []
        let ofA = try #require(entries.first { $0["author"] as? String == nodeA.key }?["id"] as? String)
        let ofB = try #require(entries.first { $0["author"] as? String == nodeB.key }?["id"] as? String)
        // The text log shows the ids edit takes (issue 19).
        let withIDs = try Self.cli(["log", "--data", dataA, conversation, "--ids"]).split(separator: "\n")
        // Short ids (8 hex digits and the counter), which edit takes.
        let shortA = String(ofA.prefix(8)) + ":" + (ofA.split(separator: ":").last.map(String.init) ?? "")
        #expect(withIDs.contains { $0.hasPrefix(shortA + " [") }, "\(withIDs)")
        #expect(try Self.cli(["edit", "--data", dataA, conversation, shortA, "edited by A"]) == "edited \(shortA)", "success is said")
        #expect(try Self.cli(["delete", "--data", dataB, conversation, ofB]) == "deleted \(ofB)")
        _ = try Self.poll("the edit and the delete to reach the other node") { () -> Bool? in
            let onB = try Self.json(["log", "--data", dataB, conversation])["messages"] as? [[String: Any]] ?? []
            let onA = try Self.json(["log", "--data", dataA, conversation])["messages"] as? [[String: Any]] ?? []
            let edited = onB.first { $0["id"] as? String == ofA }
            let deleted = onA.first { $0["id"] as? String == ofB }
            return edited?["text"] as? String == "edited by A" && edited?["edited"] as? Bool == true
                && deleted?["deleted"] as? Bool == true ? true : nil
        }
        #expect(try Self.cli(["log", "--data", dataB, conversation]).contains("edited by A (edited)"))
        // `log` places a deleted message by its timestamp, so the delete may move it: compare from here.
        let converged = try Self.logIDs(dataA, conversation)
        #expect(try Self.logIDs(dataB, conversation) == converged)
        #expect(Set(converged) == Set(initial))

        // B dies without warning; A keeps writing; B restarts on the same directory, redials A (it
        // remembers the address it joined through) and catches up.
        nodeB.kill()
        try Self.sendConcurrently([dataA], count: 4, conversation: conversation, tag: "while B was down")
        nodeB = try Daemon(data: dataB, extra: ["--name", "bob"])
        let caughtUp = try Self.poll("B to catch up after restart") { () -> [String]? in
            let a = try Self.logIDs(dataA, conversation), b = try Self.logIDs(dataB, conversation)
            return a.count == 16 && a == b ? b : nil
        }
        #expect(Array(caughtUp.prefix(12)) == converged)

        // The status contract.
        let status = try Self.poll("B's status to list A as a peer") { () -> [String: Any]? in
            let status = try Self.json(["status", "--data", dataB])
            return (status["peers"] as? [[String: Any]])?.isEmpty == false ? status : nil
        }
        #expect(status["identity"] as? String == nodeB.key)
        let peer = try #require((status["peers"] as? [[String: Any]])?.first)
        #expect(peer["key"] as? String == nodeA.key)
        let held = try #require((status["conversations"] as? [[String: Any]])?.first)
        #expect(held["id"] as? String == conversation)
        let clock = try #require(held["clock"] as? [String: Any])
        #expect(clock[nodeA.key] != nil && clock[nodeB.key] != nil)
        #expect(held["pendingBatches"] as? Int == 0)
        #expect(held["rejections"] is [String: Any])
        #expect(status["counters"] is [String: Any])

        // Revoking B: A's membership drops B and A closes the session; B learns it and can no
        // longer send.
        try Self.cli(["debug", "revoke", "--data", dataA, conversation, nodeB.key])
        let keysOnA = try (Self.json(["members", "--data", dataA, conversation])["members"] as? [[String: Any]] ?? [])
            .compactMap { $0["key"] as? String }
        #expect(keysOnA == [nodeA.key])
        _ = try Self.poll("A to disconnect the revoked B") { () -> Bool? in
            let counters = try Self.json(["status", "--data", dataA])["counters"] as? [String: Any]
            return (counters?["revokedDisconnects"] as? Int ?? 0) >= 1 ? true : nil
        }
        _ = try Self.poll("B to learn it was removed") { () -> Bool? in
            let members = try Self.json(["members", "--data", dataB, conversation])["members"] as? [[String: Any]] ?? []
            return members.contains { $0["key"] as? String == nodeB.key } ? nil : true
        }
        let afterRevoke = try BenchTraceCommandTests.run(["send", "--data", dataB, conversation, "after revoke"])
        #expect(afterRevoke.status == 1 && afterRevoke.stderr.contains("[not_permitted]"), "\(afterRevoke.stderr)")
        #expect(try Self.logIDs(dataA, conversation) == caughtUp)

        let refused = try BenchTraceCommandTests.run(["send", "--data", dataA, "ffff", "x"])
        #expect(refused.status == 1 && refused.stderr.contains("unknown_conversation"))

        // A clean stop through the control socket.
        try Self.cli(["stop", "--data", dataA])
        nodeA.process.waitUntilExit()
        #expect(nodeA.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: dataA + "/control.sock"))
    }

    @Test func initCreatesTheIdentityWithoutANode() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = root + "/n"
        let first = try Self.json(["init", "--data", data, "--name", "carol"])
        let key = try #require(first["key"] as? String)
        #expect(key.hasPrefix("sc1"))
        #expect(first["data"] as? String == data)
        #expect(try Self.cli(["init", "--data", data]) == key)
        let attributes = try FileManager.default.attributesOfItem(atPath: data)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o077 } == 0)

        let missing = try BenchTraceCommandTests.run(["status", "--data", data])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no node is running"))
    }
}

extension DaemonTests {
    /// Issue 19: a port clash is said in words, with what to do (not the failing system call), and
    /// a data directory others may write to is refused before the identity key is written into it.
    @Test func startFailuresSayWhatToDo() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try Daemon(data: root + "/a")
        defer { first.kill() }
        let clash = try BenchTraceCommandTests.run(["serve", "--data", root + "/b", "--listen", first.address])
        #expect(clash.status != 0)
        #expect(clash.stderr.contains("already in use"), "\(clash.stderr)")
        #expect(!clash.stderr.contains("bind(descriptor"), "\(clash.stderr)")

        let shared = root + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        #expect(chmod(shared, 0o775) == 0)
        let insecure = try BenchTraceCommandTests.run(["serve", "--data", shared, "--listen", "127.0.0.1:0"])
        #expect(insecure.status != 0)
        #expect(insecure.stderr.contains("chmod 700"), "\(insecure.stderr)")
        #expect(!FileManager.default.fileExists(atPath: shared + "/identity"))
    }
}

extension DaemonTests {
    /// Issue 19: `store check` given a node's data directory checks the store inside it.
    @Test func storeCheckFindsTheStoreInADataDirectory() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = root + "/a"
        let node = try Daemon(data: data)
        _ = try Self.json(["create", "--data", data, "checked"])
        node.kill()
        let report = try Self.json(["store", "check", data])
        #expect(report["ok"] as? Bool == true)
        #expect((report["conversations"] as? [Any])?.count == 1)
    }
}

extension DaemonTests {
    /// Issue 19: a name with a line break is refused, a name may start with a dash, and renaming an
    /// existing identity is said, never silent.
    @Test func namesAreCheckedAndRenamesAreSaid() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = root + "/a"
        let broken = try BenchTraceCommandTests.run(["init", "--data", data, "--name", "ana\nben"])
        #expect(broken.status != 0)
        #expect(broken.stderr.contains("one line"), "\(broken.stderr)")
        let dashed = try BenchTraceCommandTests.run(["init", "--data", data, "--name", "-x"])
        #expect(dashed.status == 0, "\(dashed.stderr)")
        let refused = try BenchTraceCommandTests.run(["init", "--data", data, "--name", "ana"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("add --force to rename it to ana"), "\(refused.stderr)")
        let renamed = try BenchTraceCommandTests.run(["init", "--data", data, "--name", "ana", "--force"])
        #expect(renamed.status == 0)
        #expect(renamed.stderr.contains("renamed this identity from -x to ana"), "\(renamed.stderr)")
        #expect(renamed.stdout == dashed.stdout, "the key is unchanged")
    }
}

extension DaemonTests {
    /// Issue 19: a conversation can be named by its title (ignoring case); two with the same title
    /// are refused as ambiguous, and the id still works.
    @Test func conversationsAreNamedByTitle() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = root + "/a"
        let node = try Daemon(data: data)
        defer { node.kill() }
        let team = try Self.json(["create", "--data", data, "Team"])["conversation"] as? String ?? ""
        try Self.cli(["send", "--data", data, "team", "hi by title"])
        let texts = (try Self.json(["log", "--data", data, "Team"])["messages"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(texts == ["hi by title"])
        _ = try Self.json(["create", "--data", data, "TEAM"])
        let ambiguous = try BenchTraceCommandTests.run(["send", "--data", data, "team", "which one?"])
        #expect(ambiguous.status != 0)
        try Self.cli(["send", "--data", data, String(team.prefix(12)), "by id"])
    }
}

extension DaemonTests {
    /// Ana's and Ben's daemons in `root`, Ana's conversation `title`, and a comment link to it.
    static func anaAndBen(in root: String, conversation title: String) throws
        -> (ana: Daemon, ben: Daemon, conversation: String, url: String) {
        let ana = try Daemon(data: root + "/a", extra: ["--name", "ana"])
        let ben = try Daemon(data: root + "/b", extra: ["--name", "ben"])
        let conversation = try json(["create", "--data", ana.data, title])["conversation"] as? String ?? ""
        let link = try json(["link", "create", "--data", ana.data, conversation, "--permission", "comment"])
        guard let url = link["url"] as? String else { throw DaemonTestError("link create printed no url: \(link)") }
        return (ana, ben, conversation, url)
    }
}

extension DaemonTests {
    /// Issue 19: commands say what they did (the id stays alone on standard output for scripts),
    /// the rate limit says when the next message may go, and `members` shows the presence the
    /// chat shows, with "last seen" for offline members.
    @Test func commandsSayWhatTheyDidAndWhen() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ana, ben, conversation, url) = try Self.anaAndBen(in: root, conversation: "feedback")
        defer { ana.kill(); ben.kill() }
        let created = try BenchTraceCommandTests.run(["create", "--data", ana.data, "Second"])
        #expect(created.status == 0)
        #expect(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 64)
        #expect(created.stderr == "created “Second” as admin\n", "\(created.stderr)")
        // `invite` prints a link as `link create` does; join takes it.
        #expect(try Self.cli(["invite", "--data", ana.data, conversation]).hasPrefix("streamingchat://join?token="))
        let joined = try BenchTraceCommandTests.run(["join", "--data", ben.data, "--timeout", "10", url])
        #expect(joined.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == conversation)
        #expect(joined.stderr.hasSuffix("joined “feedback” as comment\n"), "\(joined.stderr)")

        // Ten messages a minute by default: the eleventh is refused with the time to wait.
        for number in 0 ..< 10 { try Self.cli(["send", "--data", ben.data, conversation, "m\(number)"]) }
        let refused = try BenchTraceCommandTests.run(["send", "--data", ben.data, conversation, "one too many"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("allows 10 messages a minute; the next one can go in"), "\(refused.stderr)")
        #expect(refused.stderr.contains("[rate_limited]"), "\(refused.stderr)")

        // Presence as the chat shows it; once Ben's node is gone, when he was last seen.
        let listed = try Self.cli(["members", "--data", ana.data, conversation])
        #expect(listed.contains("online"), "\(listed)")
        ben.kill()
        _ = try Self.poll("ben offline with a last-seen time", timeout: .seconds(20)) { () -> Bool? in
            let text = try Self.cli(["members", "--data", ana.data, conversation])
            return text.split(separator: "\n").contains { $0.contains("ben") && $0.contains("offline, last seen just now") } ? true : nil
        }
        let members = try Self.json(["members", "--data", ana.data, conversation])["members"] as? [[String: Any]] ?? []
        let benRow = try #require(members.first { $0["name"] as? String == "ben" })
        #expect(benRow["status"] as? String == "offline")
        #expect(benRow["lastSeen"] as? Int != nil)
    }
}

extension DaemonTests {
    /// Issue 19: every join refusal code the README lists is produced, by real daemons and the
    /// README's commands (`invite_used_up` is produced in ``SharingEndToEndTests``, `invalid_invite`
    /// and `revoked` at node level in ``NodeTests`` and ``SharingTests``).
    @Test func everyJoinRefusalCodeTheREADMEListsIsProduced() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ana, ben, conversation, _) = try Self.anaAndBen(in: root, conversation: "codes")
        defer { ana.kill(); ben.kill() }
        let cat = try Daemon(data: root + "/c", extra: ["--name", "cat"])
        defer { cat.kill() }
        func refusal(_ arguments: [String]) throws -> String {
            let result = try BenchTraceCommandTests.run(arguments)
            #expect(result.status != 0, "\(arguments) succeeded")
            return result.stderr
        }

        let expiring = try Self.cli(["link", "create", "--data", ana.data, conversation, "--expires-in", "1"])
        usleep(1_500_000)
        let expired = try refusal(["join", "--data", ben.data, "--timeout", "5", expiring])
        #expect(expired.contains("[invite_expired]"), "\(expired)")

        let revokedLink = try Self.json(["link", "create", "--data", ana.data, conversation])
        let tokenID = try #require(revokedLink["tokenID"] as? String)
        try Self.cli(["link", "revoke", "--data", ana.data, conversation, String(tokenID.prefix(8))])
        let revoked = try refusal(["join", "--data", ben.data, "--timeout", "5", try #require(revokedLink["url"] as? String)])
        #expect(revoked.contains("[invite_revoked]"), "\(revoked)")

        // A direct invitation for Ben: Cat cannot use it; Ben declines, then cannot accept.
        let invitation = try Self.cli(["invite", "--data", ana.data, conversation, ben.key])
        let stranger = try refusal(["join", "--data", cat.data, "--timeout", "5", invitation])
        #expect(stranger.contains("[not_the_invitee]"), "\(stranger)")
        try Self.cli(["invitations", "decline", "--data", ben.data, invitation])
        let declined = try refusal(["invitations", "accept", "--data", ben.data, "--timeout", "5", invitation])
        #expect(declined.contains("[invite_declined]"), "\(declined)")

        // Nobody answers at the address: timed_out.
        let link = try Self.cli(["link", "create", "--data", ana.data, conversation])
        let silent = try refusal(["join", "--data", cat.data, "--timeout", "1", "127.0.0.1:\(try JoinProgressTests.unusedPort())", link])
        #expect(silent.contains("[timed_out]"), "\(silent)")

        // The audit trail records the decline and an accepted invitation, takes a user by name,
        // and shows people by name.
        let forCat = try Self.cli(["invite", "--data", ana.data, conversation, cat.key])
        try Self.cli(["invitations", "accept", "--data", cat.data, "--timeout", "10", forCat])
        let entries = try Self.json(["audit", "--data", ana.data, conversation])["entries"] as? [[String: Any]] ?? []
        // (Ben never joined, so he has no name in the conversation: his key stands for him.)
        #expect(entries.contains { $0["action"] as? String == "invitation_declined" && $0["actor"] as? String == ben.key
            && $0["targetName"] as? String == "ana" })
        #expect(entries.contains { $0["action"] as? String == "invitation_accepted" && $0["actorName"] as? String == "cat"
            && $0["targetName"] as? String == "ana" })
        let byCat = try Self.json(["audit", "--data", ana.data, conversation, "--user", "cat"])["entries"] as? [[String: Any]] ?? []
        #expect(!byCat.isEmpty && byCat.allSatisfy { $0["actorName"] as? String == "cat" || $0["targetName"] as? String == "cat" })
        let text = try Self.cli(["audit", "--data", ana.data, conversation, "--action", "invitation_accepted"])
        #expect(text.contains("invitation_accepted") && text.contains("by cat on ana"), "\(text)")
    }
}
