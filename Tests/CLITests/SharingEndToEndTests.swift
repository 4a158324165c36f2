import Foundation
import Testing

/// Three `streamingchat serve` daemons (ana, ben, cat) driven only through the CLI: share links
/// with a use limit and an expiry, a direct invitation, collaboration, a permission change, the
/// audit trail's admin-only rule, revoking a member mid-session, and the audit CSV. Every wait is
/// bounded.
@Suite(.serialized) struct SharingEndToEndTests {
    typealias Daemon = DaemonTests.Daemon

    /// A display name a spreadsheet would run as a formula.
    static let hostileName = #"=HYPERLINK("http://x","y")"#

    /// A short private directory (Unix socket paths must stay under 108 bytes).
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/sce-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw DaemonTests.DaemonTestError("mkdtemp failed") }
        return String(cString: path)
    }

    /// The objects of an array field of a `--json` command.
    static func list(_ field: String, _ arguments: [String]) throws -> [[String: Any]] {
        try DaemonTests.json(arguments)[field] as? [[String: Any]] ?? []
    }

    /// The `(id, author, text)` of `log --json`, in order.
    static func log(_ data: String, _ conversation: String) throws -> [(id: String, author: String, text: String)] {
        try list("messages", ["log", "--data", data, conversation]).map {
            ($0["id"] as? String ?? "", $0["author"] as? String ?? "", $0["text"] as? String ?? "")
        }
    }

    /// RFC 4180: rows of cells; quoted cells may hold commas, doubled quotes and line breaks.
    static func parseCSV(_ text: String) throws -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], cell = "", quoted = false, afterQuote = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar?
        func next() -> Unicode.Scalar? {
            if let scalar = pending { pending = nil; return scalar }
            return scalars.next()
        }
        while let scalar = next() {
            if quoted {
                if scalar == "\"" {
                    let following = next()
                    if following == "\"" { cell.unicodeScalars.append("\"") } else {
                        quoted = false
                        afterQuote = true
                        pending = following
                    }
                } else {
                    cell.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"":
                guard cell.isEmpty, !afterQuote else { throw DaemonTests.DaemonTestError("a quote inside an unquoted cell") }
                quoted = true
            case ",":
                row.append(cell)
                cell = ""
                afterQuote = false
            case "\r":
                let following = next()
                guard following == "\n" else { throw DaemonTests.DaemonTestError("a bare CR") }
                fallthrough
            case "\n":
                row.append(cell)
                rows.append(row)
                row = []
                cell = ""
                afterQuote = false
            default:
                guard !afterQuote else { throw DaemonTests.DaemonTestError("text after a closing quote") }
                cell.unicodeScalars.append(scalar)
            }
        }
        guard !quoted else { throw DaemonTests.DaemonTestError("an unterminated quoted cell") }
        if !cell.isEmpty || !row.isEmpty || afterQuote {
            row.append(cell)
            rows.append(row)
        }
        return rows
    }

    @Test func csvParserFollowsRFC4180() throws {
        let rows = try Self.parseCSV("a,\"b,\"\"c\"\"\",\r\n\"line\nbreak\",'=x,\n")
        #expect(rows == [["a", "b,\"c\"", ""], ["line\nbreak", "'=x", ""]])
        #expect(throws: DaemonTests.DaemonTestError.self) { try Self.parseCSV("a\"b\n") }
    }

    /// Public mode from the command line: anyone who reaches a member joins with `view` by the
    /// conversation's id; once private again, no one does.
    @Test func publicConversationsJoinByIDFromTheCommandLine() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dataA = root + "/a", dataB = root + "/b", dataC = root + "/c"
        let ana = try Daemon(data: dataA, extra: ["--name", "ana"])
        defer { ana.kill() }
        let ben = try Daemon(data: dataB, extra: ["--name", "ben"])
        defer { ben.kill() }
        let cat = try Daemon(data: dataC, extra: ["--name", "cat"])
        defer { cat.kill() }
        let conversation = try DaemonTests.json(["create", "--data", dataA, "open room", "--public"])["conversation"] as? String ?? ""
        #expect(try DaemonTests.json(["join", "--data", dataB, ana.address, conversation])["conversation"] as? String == conversation)
        let members = try Self.list("members", ["members", "--data", dataA, conversation])
        #expect(members.contains { $0["key"] as? String == ben.key && $0["permission"] as? String == "view" }, "\(members)")
        // Ben's join carries ana's signed admission: the audit trail names who let him in.
        let grants = try Self.list("entries", ["audit", "--data", dataA, conversation, "--action", "access_granted"])
        #expect(grants.contains { ($0["detail"] as? String ?? "").contains("mode=public admitted_by=\(ana.key)") }, "\(grants)")
        #expect(try DaemonTests.json(["mode", "--data", dataA, conversation, "private"])["public"] as? Bool == false)
        let refused = try BenchTraceCommandTests.run(["join", "--data", dataC, ana.address, conversation, "--timeout", "3"])
        #expect(refused.status == 1, "cat joined a private conversation: \(refused.stdout)")
    }

    @Test func linksInvitationsGrantsRevocationAndAudit() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dataA = root + "/a", dataB = root + "/b", dataC = root + "/c"
        let ana = try Daemon(data: dataA, extra: ["--name", "ana"])
        defer { ana.kill() }
        let ben = try Daemon(data: dataB, extra: ["--name", "ben"])
        defer { ben.kill() }
        let cat = try Daemon(data: dataC, extra: ["--name", Self.hostileName])
        defer { cat.kill() }

        let conversation = try DaemonTests.json(["create", "--data", dataA, "sharing"])["conversation"] as? String ?? ""
        #expect(conversation.count == 64)

        // A one-use link: ben joins with the URL alone (it carries ana's address).
        let once = try DaemonTests.json(["link", "create", "--data", dataA, conversation, "--permission", "comment",
                                         "--uses", "1", "--label", "for ben"])
        let onceURL = try #require(once["url"] as? String)
        let onceID = try #require(once["tokenID"] as? String)
        #expect(onceURL.hasPrefix("streamingchat://join?token="))
        #expect(once["permission"] as? String == "comment" && once["useLimit"] as? Int == 1)
        #expect(once["conversation"] as? String == conversation && once["invitee"] == nil)
        #expect(try DaemonTests.json(["join", "--data", dataB, onceURL])["conversation"] as? String == conversation)
        _ = try DaemonTests.poll("ana to count ben's use of the link") { () -> Bool? in
            let link = try Self.list("links", ["link", "list", "--data", dataA, conversation])
                .first { $0["tokenID"] as? String == onceID }
            return link?["state"] as? String == "used_up" && (link?["joiners"] as? [String]) == [ben.key] ? true : nil
        }
        // Ben's join carries the admission Ana's node signed: who admitted him, when, which use.
        let onceEntry = try Self.list("links", ["link", "list", "--data", dataA, conversation])
            .first { $0["tokenID"] as? String == onceID }
        let admission = try #require((onceEntry?["admissions"] as? [[String: Any]])?.first)
        #expect(admission["joiner"] as? String == ben.key && admission["admittedBy"] as? String == ana.key)
        #expect(admission["use"] as? Int == 1 && admission["admittedAt"] is Int)

        // The used-up link admits nobody else, and the joiner is told why at once.
        let usedUp = try BenchTraceCommandTests.run(["join", "--data", dataC, onceURL, "--timeout", "60"])
        #expect(usedUp.status == 1, "a used-up link let cat in: \(usedUp.stdout)")
        #expect(usedUp.stderr.contains("[invite_used_up]"), "\(usedUp.stderr)")

        // An expired link is refused.
        let short = try DaemonTests.json(["link", "create", "--data", dataA, conversation, "--expires-in", "1"])
        let shortURL = try #require(short["url"] as? String)
        #expect(short["permission"] as? String == "view" && short["expiresAt"] is Int)
        usleep(2_000_000)
        let expired = try BenchTraceCommandTests.run(["join", "--data", dataC, shortURL, "--timeout", "3"])
        #expect(expired.status == 1 && expired.stderr.contains("expired"), "\(expired.stderr)")
        let shortState = try Self.list("links", ["link", "list", "--data", dataA, conversation])
            .first { $0["tokenID"] as? String == short["tokenID"] as? String }
        #expect(shortState?["state"] as? String == "expired")

        // A direct invitation for cat, declined; a second one, accepted.
        let declinedURL = try DaemonTests.cli(["invite", "--data", dataA, conversation, cat.key, "--permission", "view"])
        #expect(try DaemonTests.cli(["invitations", "decline", "--data", dataC, declinedURL, "--timeout", "10"]) == conversation)
        _ = try DaemonTests.poll("ana to see the invitation declined") { () -> Bool? in
            let invitations = try Self.list("invitations", ["invitations", "--data", dataA, conversation])
            return invitations.first?["state"] as? String == "declined" ? true : nil
        }
        let inviteURL = try DaemonTests.cli(["invite", "--data", dataA, conversation, cat.key, "--permission", "comment"])
        #expect(inviteURL.hasPrefix("streamingchat://join?token="))
        let pending = try Self.list("invitations", ["invitations", "--data", dataA, conversation])
        #expect(pending.count == 2 && pending.first?["invitee"] as? String == cat.key
            && pending.first?["state"] as? String == "pending", "\(pending)")
        #expect(try DaemonTests.cli(["invitations", "accept", "--data", dataC, inviteURL]) == conversation)
        _ = try DaemonTests.poll("ana to see the invitation accepted") { () -> Bool? in
            let invitations = try Self.list("invitations", ["invitations", "--data", dataA, conversation])
            return invitations.first?["state"] as? String == "accepted" ? true : nil
        }

        // All three write; the logs converge.
        for data in [dataA, dataB, dataC] { try DaemonTests.cli(["send", "--data", data, conversation, "hello from \(data)"]) }
        let converged = try DaemonTests.poll("three logs to hold the same three messages") { () -> [String]? in
            let a = try Self.log(dataA, conversation).map(\.id), b = try Self.log(dataB, conversation).map(\.id)
            let c = try Self.log(dataC, conversation).map(\.id)
            return a.count == 3 && a == b && b == c ? a : nil
        }
        let catMessage = try #require(try Self.log(dataA, conversation).first { $0.author == cat.key }?.id)

        // Ben gets edit and edits cat's message.
        #expect(try DaemonTests.cli(["grant", "--data", dataA, conversation, ben.key, "edit"]) == "\(ben.key) now has edit permission")
        _ = try DaemonTests.poll("ben to learn he has edit") { () -> Bool? in
            let members = try Self.list("members", ["members", "--data", dataB, conversation])
            return members.first { $0["key"] as? String == ben.key }?["permission"] as? String == "edit" ? true : nil
        }
        try DaemonTests.cli(["edit", "--data", dataB, conversation, catMessage, "fixed by ben"])
        _ = try DaemonTests.poll("ben's edit to reach ana and cat") { () -> Bool? in
            let onA = try Self.log(dataA, conversation).first { $0.id == catMessage }?.text
            let onC = try Self.log(dataC, conversation).first { $0.id == catMessage }?.text
            return onA == "fixed by ben" && onC == "fixed by ben" ? true : nil
        }

        // The audit trail is for admins.
        let denied = try BenchTraceCommandTests.run(["audit", "--data", dataB, conversation])
        #expect(denied.status == 1 && denied.stderr.contains("[not_permitted]"), "\(denied.stderr)")

        // Ana revokes cat mid-session: cat loses its sessions for the conversation and cannot write.
        try DaemonTests.cli(["revoke", "--data", dataA, conversation, cat.key])
        _ = try DaemonTests.poll("cat to have no peer for the conversation") { () -> Bool? in
            let peers = try Self.list("peers", ["status", "--data", dataC])
            return peers.contains { ($0["conversations"] as? [String] ?? []).contains(conversation) } ? nil : true
        }
        _ = try DaemonTests.poll("cat to learn it was removed") { () -> Bool? in
            let members = try Self.list("members", ["members", "--data", dataC, conversation])
            return members.contains { $0["key"] as? String == cat.key } ? nil : true
        }
        let refused = try BenchTraceCommandTests.run(["send", "--data", dataC, conversation, "after revoke"])
        #expect(refused.status == 1 && refused.stderr.contains("[not_permitted]"), "\(refused.stderr)")
        try DaemonTests.cli(["send", "--data", dataB, conversation, "ben after revoke"])
        _ = try DaemonTests.poll("ben's later message to reach ana") { () -> Bool? in
            try Self.log(dataA, conversation).count == 4 ? true : nil
        }
        for data in [dataA, dataB] {
            let texts = try Self.log(data, conversation).map(\.text)
            #expect(!texts.contains("after revoke"))
            #expect(Array(try Self.log(data, conversation).map(\.id).prefix(3)) == converged)
        }

        // Filters.
        let revocations = try Self.list("entries", ["audit", "--data", dataA, conversation, "--action", "access_revoked"])
        #expect(revocations.count == 1 && revocations.first?["target"] as? String == cat.key
            && revocations.first?["actor"] as? String == ana.key, "\(revocations)")
        let bensMessages = try Self.list("entries", ["audit", "--data", dataA, conversation, "--user", ben.key,
                                                     "--action", "message_sent"])
        #expect(bensMessages.count == 2)
        let future = try Self.list("entries", ["audit", "--data", dataA, conversation, "--since", "2999-01-01T00:00:00Z"])
        #expect(future.isEmpty)

        // The CSV: parses, names neutralised, actions in order.
        let csv = try DaemonTests.cli(["audit", "--data", dataA, conversation, "--csv"])
        let rows = try Self.parseCSV(csv)
        #expect(rows.first == ["time", "action", "actor", "actor_name", "target", "target_name", "message", "detail"])
        let body = rows.dropFirst()
        #expect(body.allSatisfy { $0.count == 8 }, "\(rows)")
        #expect(body.contains { $0[3] == "'" + Self.hostileName || $0[5] == "'" + Self.hostileName }, "\(csv)")
        #expect(!body.contains { $0.contains(Self.hostileName) })
        func index(_ action: String, actor: String? = nil, target: String? = nil) -> Int? {
            body.firstIndex { row in
                row[1] == action && actor.map { row[2] == $0 } != false && target.map { row[4] == $0 } != false
            }
        }
        let order = [index("link_created"), index("link_used", actor: ben.key), index("access_granted", target: ben.key),
                     index("message_sent"), index("permission_changed", target: ben.key),
                     index("access_revoked", target: cat.key)]
        #expect(order.allSatisfy { $0 != nil }, "\(order) in \(csv)")
        let found = order.compactMap { $0 }
        #expect(found == found.sorted(), "\(order) in \(csv)")
    }
}
