import ArgumentParser
import ChatControl
import ChatCore
import ChatNode
import Foundation

/// Talking to a running node (`streamingchat serve`) through its control socket.
enum Control {
    /// Sends one request; returns its result, or throws the node's refusal (with its code) as a
    /// ``CommandFailure``.
    static func call(_ command: ControlCommand, data: DataOptions, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        do {
            return try await ControlClient.call(command, socketPath: data.directory.controlSocketPath, timeout: timeout)
        } catch {
            throw CommandFailure(error.message, code: error.code)
        }
    }

    /// Sends `command` and answers the way every client command does: with `--json`, prints the
    /// node's result as one JSON line (sorted keys) and returns nil; otherwise returns it as the
    /// command's result type (see ControlResults.swift), for the command to print.
    static func call<Result: Decodable>(_ command: ControlCommand, as type: Result.Type, data: DataOptions, json: Bool,
                                        timeout: Duration = .seconds(30)) async throws -> Result? {
        let value = try await call(command, data: data, timeout: timeout)
        if json {
            try printJSON(value)
            return nil
        }
        return try decode(value, as: Result.self)
    }

    /// Says on standard error what a command did to `conversation`, with its title and this
    /// node's permission there ("joined “Team” as comment"); standard output keeps the bare id
    /// for scripts. Best effort: without an answer from the node it says less.
    static func sayDone(_ verb: String, conversation: String, data: DataOptions) async {
        let socket = data.directory.controlSocketPath
        let conversations = try? await ControlClient.call(.conversations, as: ConversationsResult.self, socketPath: socket,
                                                          timeout: .seconds(5)).conversations
        let title = conversations?.first { $0.id == conversation }.map { "“" + TerminalText.safe($0.title) + "”" }
        let members = try? await ControlClient.call(.members(conversation: conversation), as: MembersResult.self,
                                                    socketPath: socket, timeout: .seconds(5)).members
        let permission = members?.first(where: \.isSelf)?.permission
        printError("\(verb) \(title ?? String(conversation.prefix(12)))" + (permission.map { " as \($0)" } ?? ""))
    }

    /// Prints a result as one line of JSON with sorted keys.
    private static func printJSON(_ value: JSONValue) throws {
        print(try value.jsonString(pretty: false))
    }

    /// Decodes the node's answer as the command's result type (see ControlResults.swift), or reports
    /// a malformed answer.
    private static func decode<Result: Decodable>(_ value: JSONValue, as type: Result.Type) throws -> Result {
        guard let decoded = try? value.decoded(as: Result.self) else {
            throw CommandFailure("the node's answer is not a valid \(Result.self)")
        }
        return decoded
    }
}

/// The `--json` flag of client commands.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the node's result as one JSON object (sorted keys).")
    var json = false
}

extension StreamingChat {
    /// `streamingchat init`: create the data directory and identity without running a node.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init", abstract: "Create the data directory and identity (if missing); print the public key.")

        @OptionGroup var dataOptions: DataOptions
        @Option(parsing: .unconditional, help: "The display name `serve` uses when given no --name.")
        var name: String?
        @Flag(help: "Rename an identity that already has another name.") var force = false
        @OptionGroup var output: OutputOptions

        func validate() throws { try TerminalText.checkName(name) }

        func run() throws {
            let directory = dataOptions.directory
            let key: String
            do {
                // Never silently, and only when asked: an existing identity keeps its key, and
                // changes its name only with --force.
                if let name, let old = directory.savedName(), old != name, !force {
                    throw CommandFailure("this identity is named \(TerminalText.safe(old)); "
                        + "add --force to rename it to \(name) (its key stays the same)")
                }
                key = try directory.loadOrCreateIdentity().publicKey.text
                if let name {
                    if let old = directory.savedName(), old != name {
                        printError("streamingchat: renamed this identity from \(TerminalText.safe(old)) to \(name) (its key is unchanged)")
                    }
                    try directory.saveName(name)
                }
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure("\(error)")
            }
            if output.json {
                print(try jsonLine(["data": directory.path, "key": key]))
            } else {
                print(key)
            }
        }
    }

    /// `streamingchat create <title>`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a conversation; print its id.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation's title.") var title: String
        @Flag(help: "Anyone with the id may join.") var `public` = false
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let conversation = try await Control.call(.create(title: title, isPublic: `public`),
                                                            as: ConversationResult.self, data: dataOptions,
                                                            json: output.json)?.conversation else { return }
            print(conversation)
            await Control.sayDone("created", conversation: conversation, data: dataOptions)
        }
    }

    /// `streamingchat invite <conversation> [<public-key>]`.
    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign an invite token (admins only); print its streamingchat://join link (--json: the token as hex).",
            discussion: """
                With a public key (or the display name of someone in a conversation this node holds), \
                sign a direct invitation for that person instead (recorded in the conversation, \
                listed by `invitations`) and print its streamingchat://join link.
                """)

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The invitee's public key (sc1…) or display name, for a direct invitation.") var publicKey: String?
        @Option(help: "The permission the invitation gives.") var permission: Permission = .comment
        @Option(help: "Seconds until the token expires.") var expiresIn: UInt64?
        @Option(help: "How many joins the token allows.") var uses: UInt32?
        @Option(help: "A note for the audit log.") var label: String?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let terms = try Sharing.linkTerms(permission: permission, expiresIn: expiresIn, uses: uses, label: label)
            if let publicKey {
                guard let link = try await Control.call(.linkCreate(conversation: conversation, terms: terms, invitee: publicKey),
                                                        as: ShareLink.self, data: dataOptions, json: output.json) else { return }
                return print(link.url)
            }
            guard let invite = try await Control.call(.invite(conversation: conversation, terms: terms), as: InviteResult.self,
                                                      data: dataOptions, json: output.json) else { return }
            // A link, as `link create` and direct invitations print (join takes it, or the hex).
            print(ShareLink.prefix + invite.token)
            Sharing.sayCode(invite.code)
        }
    }

    /// `streamingchat join <link>` or `streamingchat join <host:port> <token>`.
    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a conversation with a share link, or through the peer at host:port; returns once the join is durable.",
            discussion: """
                `join streamingchat://join?token=…` dials the peers the link names; `join host:port/code` \
                (a link's short code) asks the node there for the link first; \
                `join <host:port> <token>` dials the given peer; `join <host:port> <conversation-id>` \
                joins a public conversation (with view permission) through that member.
                """)

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "A share link (streamingchat://join?token=…), its short code (host:port/code), or a member's address, host:port.")
        var linkOrAddress: String
        @Argument(help: "The invite token (hex or link), or a public conversation's whole id, when the first argument is an address.")
        var token: String?
        @Option(help: "Seconds to wait for admission.") var timeout: UInt32 = 15
        @Flag(help: "Print progress lines (dialling, authenticated, admitted, catching up, recorded) to standard error even when it is not a terminal.")
        var progress = false
        @OptionGroup var output: OutputOptions

        func run() async throws {
            var address: PeerEndpoint?
            if token != nil {
                guard let endpoint = PeerEndpoint(linkOrAddress) else { try usage("the address must be host:port, not \(linkOrAddress)") }
                address = endpoint
            }
            let command = ControlCommand.join(token: token ?? linkOrAddress, address: address, timeoutSeconds: timeout)
            let joining = token.flatMap { ConversationID(hex: $0)?.hex }
                ?? InvitationSummary(link: token ?? linkOrAddress)?.conversation
            let printer = progress || JoinProgress.wanted(json: output.json)
                ? Task { [dataOptions] in await JoinProgress.follow(joining, data: dataOptions) } : nil
            defer { printer?.cancel() }
            guard let joined = try await Control.call(command, as: ConversationResult.self, data: dataOptions, json: output.json,
                                                      timeout: .seconds(Int(timeout) + 15)) else { return }
            let conversation = joined.conversation
            print(conversation)
            await Control.sayDone("joined", conversation: conversation, data: dataOptions)
        }
    }

    /// `streamingchat send <conversation> <text>`.
    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Post a message; print its id once durable.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The message.") var text: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let answer = try await Control.call(.send(conversation: conversation, text: text),
                                                      as: MessageResult.self, data: dataOptions,
                                                      json: output.json) else { return }
            print(answer.id)
        }
    }

    /// `streamingchat edit <conversation> <message-id> <text>`.
    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a message's text.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The message id, as `log --ids` shows it (9f3a51c2e07b44d1:42).") var messageID: String
        @Argument(help: "The new text.") var text: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard try await Control.call(.edit(conversation: conversation, message: messageID, text: text),
                                         as: MessageResult.self, data: dataOptions,
                                         json: output.json) != nil else { return }
            print("edited \(TerminalText.safe(messageID))")
        }
    }

    /// `streamingchat delete <conversation> <message-id>`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a message.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The message id, as `log --ids` shows it (9f3a51c2e07b44d1:42).") var messageID: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard try await Control.call(.delete(conversation: conversation, message: messageID),
                                         as: MessageResult.self, data: dataOptions,
                                         json: output.json) != nil else { return }
            print("deleted \(TerminalText.safe(messageID))")
        }
    }

    /// `streamingchat log <conversation>`.
    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a conversation's messages in order.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Flag(help: "Start each line with the message's id, as `edit` and `delete` take it.") var ids = false
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let answer = try await Control.call(.log(conversation: conversation), as: LogResult.self,
                                                      data: dataOptions, json: output.json) else { return }
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
            for entry in answer.messages {
                let time = formatter.string(from: Date(timeIntervalSince1970: Double(entry.postedAt) / 1000))
                let name = TerminalText.safe(entry.authorName ?? String(entry.author.prefix(12)))
                let text = entry.deleted ? "(deleted)" : TerminalText.safe(entry.text) + (entry.edited ? " (edited)" : "")
                // The short id (8 hex digits of the author and the counter) is enough for edit and delete.
                print((ids ? ChatScreen.shortID(entry.id) + " " : "") + "[\(time)] \(name): \(text)")
            }
        }
    }

    /// `streamingchat members <conversation>`.
    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a conversation's members.")

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let members = try await Control.call(.members(conversation: conversation), as: MembersResult.self,
                                                       data: dataOptions, json: output.json)?.members else { return }
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            print(table(members.map { member in
                var presence = member.status
                if let custom = member.customStatus { presence += " – " + TerminalText.safe(custom) }
                if member.status == "offline", let seen = member.lastSeen {
                    presence += ", last seen " + TerminalText.ago(now > seen ? now - seen : 0)
                }
                return (TerminalText.safe(member.name ?? "(no name)") + (member.isSelf ? " (you)" : "")
                    + (member.equivocated ? " (equivocated)" : ""),
                        member.permission.padding(toLength: 7, withPad: " ", startingAt: 0) + "  \(member.key)  \(presence)")
            }))
        }
    }

    /// `streamingchat status`.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the node's peers, conversations and counters.")

        @OptionGroup var dataOptions: DataOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let status = try await Control.call(.status, as: NodeStatus.self, data: dataOptions,
                                                      json: output.json) else { return }
            var rows = [("identity", status.identity), ("listening", status.listening ?? "-"),
                        ("dialing", status.dialing.isEmpty ? "-" : status.dialing.joined(separator: ", "))]
            for peer in status.peers {
                rows.append(("peer", "\(peer.key) \(peer.address ?? "?") \(peer.dialed ? "dialed" : "accepted") "
                    + "sent \(peer.batchesSent) received \(peer.batchesReceived)"))
            }
            for conversation in status.conversations {
                let rejected = conversation.rejections.values.reduce(0, +)
                rows.append(("conversation", "\(conversation.id.prefix(12)) \"\(TerminalText.safe(conversation.title))\" "
                    + "\(conversation.messages) messages, \(conversation.members) members, "
                    + "\(conversation.pendingBatches) pending, \(rejected) rejected"
                    + (conversation.joining ? ", joining" : "")))
            }
            print(table(rows))
        }
    }

    /// `streamingchat conversations`.
    struct Conversations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the conversations this node holds.")

        @OptionGroup var dataOptions: DataOptions
        @OptionGroup var output: OutputOptions


        func run() async throws {
            guard let answer = try await Control.call(.conversations, as: ConversationsResult.self, data: dataOptions,
                                                      json: output.json) else { return }
            for conversation in answer.conversations {
                print("\(conversation.id)  \(TerminalText.safe(conversation.title))  (\(conversation.messages) messages, \(conversation.members) members)")
            }
        }
    }

    /// `streamingchat stop`.
    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the running node cleanly; returns once it has.")

        @OptionGroup var dataOptions: DataOptions

        func run() async throws {
            let socket = dataOptions.directory.controlSocketPath
            do {
                _ = try await ControlClient.send(ControlRequest(command: "stop"), socketPath: socket, timeout: .seconds(10))
            } catch .connectionClosed {
                // The node closed the socket as it stopped.
            } catch {
                throw CommandFailure("\(error)")
            }
            // The node removes its socket once it has closed it; the store closes as the process exits.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(15)
            while FileManager.default.fileExists(atPath: socket) {
                guard clock.now < deadline else {
                    throw CommandFailure("the node acknowledged stop but is still running after 15 s")
                }
                try await clock.sleep(for: .milliseconds(20))
            }
            print("stopped")
        }
    }
}

extension StreamingChat {
    /// Revokes a member (hidden; the same as `streamingchat revoke`, kept for scripts).
    struct DebugRevoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke", abstract: "Remove a member from a conversation (admins only).", shouldDisplay: false)

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "The conversation: an unambiguous id prefix, or its title.") var conversation: String
        @Argument(help: "The member's key (sc1…) or display name.") var member: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            _ = try await Control.call(.revoke(conversation: conversation, member: member), as: MemberRemovedResult.self,
                                       data: dataOptions, json: output.json)
        }
    }
}
