import ArgumentParser
import ChatControl
import ChatCore
import ChatNode
import Foundation

/// Parsing shared by the sharing commands.
enum Sharing {
    /// The terms of `invite` and `link create`: `--expires-in` seconds from now become a time.
    static func linkTerms(permission: Permission, expiresIn: UInt64?, uses: UInt32?, label: String?) throws
        -> ControlCommand.LinkTerms {
        var expiresAt: UInt64?
        if let expiresIn {
            let (milliseconds, overflow) = expiresIn.multipliedReportingOverflow(by: 1000)
            let (at, late) = Node.systemWallClock().addingReportingOverflow(milliseconds)
            guard !overflow, !late else { try usage("--expires-in is too large") }
            expiresAt = at
        }
        return ControlCommand.LinkTerms(permission: permission, expiresAt: expiresAt, useLimit: uses, label: label ?? "")
    }

    /// An instant given as ms since the Unix epoch, as ISO 8601 (`2026-11-27T03:00:00Z`), as the
    /// local time `audit` prints (`2026-11-27 03:00:00`, or a day `2026-11-27`), or as a time ago
    /// (`45s`, `10m`, `2h`, `3d`), as ms since the epoch.
    static func milliseconds(_ text: String, option: String, now: Date = Date()) throws -> UInt64 {
        if let value = UInt64(text) { return value }
        if let unit = text.last, let amount = UInt64(text.dropLast()),
           let seconds = ["s": 1, "m": 60, "h": 3_600, "d": 86_400][String(unit)] {
            let ago = Double(amount) * Double(seconds) * 1000
            return UInt64(max(0, (now.timeIntervalSince1970 * 1000 - ago).rounded()))
        }
        let iso = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            iso.formatOptions = options
            if let date = iso.date(from: text), date.timeIntervalSince1970 >= 0 {
                return UInt64((date.timeIntervalSince1970 * 1000).rounded())
            }
        }
        let local = DateFormatter()
        for format in ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd"] {
            local.dateFormat = format
            if let date = local.date(from: text), date.timeIntervalSince1970 >= 0 {
                return UInt64((date.timeIntervalSince1970 * 1000).rounded())
            }
        }
        try usage("""
            \(option) takes ms since the epoch, an ISO 8601 time like 2026-11-27T03:00:00Z, a local time like \
            2026-11-27 03:00:00, or a time ago like 10m, 2h or 3d; not \(text)
            """)
    }

    /// A timestamp in ms as local `yyyy-MM-dd HH:mm:ss`.
    static func time(_ milliseconds: UInt64) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// Link and invitation rows for human output.
    /// Says a new link's short code on stderr, quoted (stdout keeps the URL alone for scripts).
    static func sayCode(_ code: String?) {
        guard let code else { return }
        printError("short code (join takes it too): '\(code)'")
    }

    static func printLinks(_ links: [LinkEntry]) {
        guard !links.isEmpty else { return print("(none)") }
        print(table(links.map { link in
            let uses = link.useLimit.map { "\(link.uses)/\($0)" } ?? "\(link.uses)"
            var columns = [link.state.padding(toLength: 8, withPad: " ", startingAt: 0),
                           link.permission.padding(toLength: 7, withPad: " ", startingAt: 0), "uses \(uses)"]
            if let expiresAt = link.expiresAt { columns.append("expires \(time(expiresAt))") }
            if let invitee = link.invitee { columns.append("for \(invitee)") }
            if !link.label.isEmpty { columns.append("\"\(link.label)\"") }
            return (String(link.tokenID.prefix(16)), columns.joined(separator: "  "))
        }))
    }
}

extension StreamingChat {
    /// `streamingchat link create|list|revoke`.
    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create, list and revoke share links.", subcommands: [Create.self, List.self, Revoke.self])
    }

    /// `streamingchat invitations [list] <conversation>`, `invitations received`, `invitations show <link>`,
    /// `invitations accept|decline <link>`.
    struct Invitations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List direct invitations (admins), or accept or decline one you received.",
            subcommands: [List.self, Received.self, Show.self, Accept.self, Decline.self], defaultSubcommand: List.self)
    }

    /// `streamingchat grant <conversation> <public-key> <permission>`.
    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a member's permission (admins only).")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The member's key (sc1…) or display name.") var member: String
        @Argument(help: "The permission to give.") var permission: Permission
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard try await Control.call(.grant(conversation: conversation, member: member, permission: permission),
                                         as: GrantResult.self, data: dataOptions,
                                         json: output.json) != nil else { return }
            print("\(TerminalText.safe(member)) now has \(permission) permission")
        }
    }

    /// `streamingchat revoke <conversation> <public-key>`.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a member (admins only): their sessions close and later operations are excluded.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The member's key (sc1…) or display name.") var member: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard try await Control.call(.revoke(conversation: conversation, member: member),
                                         as: MemberRemovedResult.self, data: dataOptions,
                                         json: output.json) != nil else { return }
            print("removed \(TerminalText.safe(member)): their sessions close and what they sign from now on is excluded")
        }
    }

    /// `streamingchat request-access <conversation> --permission P [--note N]`.
    struct RequestAccess: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "request-access", abstract: "Ask the conversation's admins for a permission.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Option(help: "The permission to ask for.") var permission: Permission
        @Option(help: "A note for the admins.") var note: String?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let request = ControlCommand.requestAccess(conversation: conversation, permission: permission, note: note ?? "")
            guard let asked = try await Control.call(request, as: AccessRequestResult.self, data: dataOptions,
                                                     json: output.json) else { return }
            print("asked the admins for \(permission) permission")
            if asked.peers == 0 { printError("no member's node is connected now: the request goes out when one is") }
        }
    }

    /// `streamingchat requests <conversation>`.
    struct Requests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a conversation's access requests.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let requests = try await Control.call(.requests(conversation: conversation),
                                                        as: AccessRequestsResult.self, data: dataOptions,
                                                        json: output.json)?.requests else { return }
            guard !requests.isEmpty else { return print("(none)") }
            print(table(requests.map { request in
                ("[\(Sharing.time(request.at))] " + (request.authorName ?? String(request.author.prefix(12))),
                 "wants \(request.permission)\(request.granted ? " (granted)" : "")"
                     + (request.note.isEmpty ? "" : ": \(request.note)") + "  \(request.author)")
            }))
        }
    }

    /// `streamingchat mode <conversation> public|private`.
    struct Mode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a conversation public or private (admins only).")

        enum Visibility: String, ExpressibleByArgument, CaseIterable {
            case `public`, `private`
        }

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "public or private.") var mode: Visibility
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard try await Control.call(.mode(conversation: conversation, isPublic: mode == .public),
                                         as: ModeResult.self, data: dataOptions,
                                         json: output.json) != nil else { return }
            print(mode == .public ? "the conversation is public: anyone who reaches a member may join with view permission"
                : "the conversation is private: only holders of a link or an invitation may join")
        }
    }

    /// `streamingchat audit <conversation> [--user KEY] [--action A]... [--since T] [--until T] [--csv]`.
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a conversation's audit trail (admins only).")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Option(help: "Only entries whose actor or target is this user: a key (sc1…) or a member's display name.") var user: String?
        @Option(name: .customLong("action"), help: "Only these actions (repeatable), e.g. message_sent.")
        var actions: [String] = []
        @Option(help: "Entries at or after this time: ms since the epoch, ISO 8601, `2026-11-27 03:00:00`, or ago (10m, 2h, 3d).")
        var since: String?
        @Option(help: "Entries before this time, in the same forms as --since.") var until: String?
        @Flag(help: "Print RFC 4180 CSV (formula-safe) instead.") var csv = false
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if csv && output.json { throw ValidationError("--csv and --json exclude each other") }
        }

        func run() async throws {
            var chosen: Set<AuditAction>?
            if !actions.isEmpty {
                chosen = []
                for name in actions {
                    guard let action = AuditAction(rawValue: name) else {
                        let known = AuditAction.allCases.map(\.rawValue).joined(separator: ", ")
                        try usage("unknown audit action \(name); the actions are \(known)")
                    }
                    chosen?.insert(action)
                }
            }
            let query = ControlCommand.AuditQuery(
                user: user, actions: chosen, since: try since.map { try Sharing.milliseconds($0, option: "--since") },
                until: try until.map { try Sharing.milliseconds($0, option: "--until") }, csv: csv)
            guard let audit = try await Control.call(.audit(conversation: conversation, query: query),
                                                     as: AuditResult.self, data: dataOptions,
                                                     json: output.json) else { return }
            if csv { return print(audit.csv ?? "", terminator: "") }
            let entries = audit.entries ?? []
            guard !entries.isEmpty else { return print("(none)") }
            print(table(entries.map { entry in
                // People by name as the CSV shows them (the key's start when they have none).
                let actor = TerminalText.safe(entry.actorName ?? String(entry.actor.prefix(15)))
                let target = entry.target.map { TerminalText.safe(entry.targetName ?? String($0.prefix(15))) }
                return ("[\(Sharing.time(entry.at))] \(entry.action)",
                        "by \(actor)" + (target.map { " on \($0)" } ?? "")
                            + (entry.detail.isEmpty ? "" : "  \(TerminalText.safe(entry.detail))"))
            }))
        }

        /// The fields of an audit entry that the human output shows.
    }
}

extension StreamingChat.Link {
    /// `streamingchat link create <conversation>`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a share link (admins only); print its streamingchat://join URL.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Option(help: "The permission the link gives.") var permission: Permission = .view
        @Option(help: "Seconds until the link expires.") var expiresIn: UInt64?
        @Option(help: "How many joins the link allows.") var uses: UInt32?
        @Option(help: "A note shown in `link list` and the audit trail.") var label: String?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let terms = try Sharing.linkTerms(permission: permission, expiresIn: expiresIn, uses: uses, label: label)
            guard let link = try await Control.call(.linkCreate(conversation: conversation, terms: terms, invitee: nil),
                                                    as: ShareLink.self, data: dataOptions, json: output.json) else { return }
            print(link.url)
            Sharing.sayCode(link.code)
        }
    }

    /// `streamingchat link list <conversation>`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a conversation's links and invitations.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let answer = try await Control.call(.linkList(conversation: conversation), as: LinksResult.self,
                                                      data: dataOptions, json: output.json) else { return }
            Sharing.printLinks(answer.links)
        }
    }

    /// `streamingchat link revoke <conversation> <token-id-prefix>`.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a link or invitation (admins only).")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The token id, or an unambiguous prefix of it, as `link list` shows it.") var tokenID: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let answer = try await Control.call(.linkRevoke(conversation: conversation, token: tokenID),
                                                      as: LinkRevokedResult.self, data: dataOptions,
                                                      json: output.json) else { return }
            print("revoked \(answer.tokenID)")
        }
    }
}

extension StreamingChat.Invitations {
    /// `streamingchat invitations [list] <conversation>`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a conversation's direct invitations.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let answer = try await Control.call(.invitations(conversation: conversation),
                                                      as: InvitationsResult.self, data: dataOptions,
                                                      json: output.json) else { return }
            Sharing.printLinks(answer.invitations)
        }
    }

    /// `streamingchat invitations received`: direct invitations members' nodes delivered to this one.
    struct Received: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the direct invitations other members' nodes delivered to this node.")

        @OptionGroup var dataOptions: DataOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let invitations = try await Control.call(.invitationsReceived, as: ReceivedInvitationsResult.self,
                                                           data: dataOptions,
                                                           json: output.json)?.invitations else { return }
            guard !invitations.isEmpty else { return print("no invitations received") }
            for invitation in invitations {
                let label = invitation.label.isEmpty ? "" : " \"\(invitation.label)\""
                print("\(invitation.tokenID.prefix(8)) \(invitation.state) \(invitation.permission) in \(invitation.conversation.prefix(12))\(label) from \(invitation.issuer)")
            }
        }
    }

    /// `streamingchat invitations show <link>`: what an invitation you received says (no node needed).
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a link or invitation you received grants, and who signed it.")

        @Argument(help: "The link (streamingchat://join?token=…) or token hex.") var link: String
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let summary = InvitationSummary(link: link) else {
                throw CommandFailure("not a valid invitation: it does not decode or its signature does not verify")
            }
            if output.json { return print(try jsonLine(summary)) }
            print(table([
                ("conversation", summary.conversation), ("permission", summary.permission), ("from", summary.issuer),
                ("label", summary.label.isEmpty ? "-" : summary.label),
                ("expires", summary.expiresAt.map { AuditCSV.isoTime($0) } ?? "never"),
                ("uses", summary.useLimit.map(String.init) ?? "unlimited"), ("peers", summary.addresses.joined(separator: " ")),
            ]))
        }
    }

    /// The options of `invitations accept` and `invitations decline`.
    struct Answer: ParsableArguments {
        @Argument(help: "The invitation's link (streamingchat://join?token=…), token hex, or the token id prefix `invitations received` shows.")
        var link: String
        @Option(help: "A member's address, host:port (default: the addresses the link carries).") var via: String?
        @Option(help: "Seconds to wait for the inviter's peers.") var timeout: UInt32 = 15

        func validate() throws {
            if let via, PeerEndpoint(via) == nil { throw ValidationError("--via must be host:port, not \(via)") }
        }

        /// Accepts (joins) or declines with the link; prints the conversation id (or the JSON result).
        func send(accept: Bool, data: DataOptions, json: Bool) async throws {
            let address = via.flatMap(PeerEndpoint.init)
            let command: ControlCommand = accept ? .join(token: link, address: address, timeoutSeconds: timeout)
                : .decline(token: link, address: address, timeoutSeconds: timeout)
            guard let answered = try await Control.call(command, as: ConversationResult.self, data: data, json: json,
                                                        timeout: .seconds(Int(timeout) + 15)) else { return }
            let conversation = answered.conversation
            print(conversation)
            if accept {
                await Control.sayDone("joined", conversation: conversation, data: data)
            } else {
                printError("declined the invitation to \(conversation.prefix(12)); the inviter's admins see it")
            }
        }
    }

    /// `streamingchat invitations accept <link>`.
    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept a direct invitation: join its conversation.")

        @OptionGroup var dataOptions: DataOptions
        @OptionGroup var answer: Answer
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await answer.send(accept: true, data: dataOptions, json: output.json)
        }
    }

    /// `streamingchat invitations decline <link>`.
    struct Decline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decline a direct invitation (signed into the conversation, so the inviter sees it).")

        @OptionGroup var dataOptions: DataOptions
        @OptionGroup var answer: Answer
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await answer.send(accept: false, data: dataOptions, json: output.json)
        }
    }
}
