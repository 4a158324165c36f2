import ChatControl
import ChatCore
import ChatNode
import Foundation

/// A failed control request: the node's message, or why it could not be reached.
struct ChatFailure: Error, Sendable {
    var message: String
}

/// The chat's calls to the node's control socket, each bounded by a timeout.
struct ChatClient: Sendable {
    let socketPath: String
    let conversation: String

    func call(_ command: ControlCommand, timeout: Duration = .seconds(10)) async -> Result<JSONValue, ChatFailure> {
        await send(command.request, timeout: timeout)
    }

    /// One of the chat's own commands (`chat-state`, `publish`) for this conversation.
    private func chatCall(_ command: String, _ arguments: [String: String],
                          timeout: Duration) async -> Result<JSONValue, ChatFailure> {
        await send(ControlRequest(command: command, arguments: arguments.merging(["conversation": conversation]) { $1 }),
                   timeout: timeout)
    }

    private func send(_ request: ControlRequest, timeout: Duration) async -> Result<JSONValue, ChatFailure> {
        do {
            let response = try await ControlClient.send(request, socketPath: socketPath, timeout: timeout)
            guard response.ok else {
                return .failure(ChatFailure(message: response.error?.message ?? "the node refused \(request.command)"))
            }
            return .success(response.result ?? .null)
        } catch {
            return .failure(ChatFailure(message: "\(error)"))
        }
    }

    /// The chat state; with `after`, once something changed since that revision, or after
    /// `wait` at the latest.
    func state(after: UInt64? = nil, wait: Duration = ChatLoop.longPoll) async -> Result<ChatState, ChatFailure> {
        var arguments: [String: String] = [:]
        if let after {
            arguments["after"] = String(after)
            arguments["wait"] = String(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        }
        switch await chatCall("chat-state", arguments, timeout: wait + .seconds(5)) {
        case .success(let value):
            guard let state = try? value.decoded(as: ChatState.self) else {
                return .failure(ChatFailure(message: "the node's chat-state answer is malformed"))
            }
            return .success(state)
        case .failure(let failure):
            return .failure(failure)
        }
    }

    func publish(_ kind: String, _ fields: [String: String]) async {
        var arguments = fields
        arguments["kind"] = kind
        _ = await chatCall("publish", arguments, timeout: .seconds(2))
    }
}

/// The chat's event loop: terminal input, resizes, a long poll of `chat-state` (answered as soon
/// as the node sees a change) and a 250 ms tick for typing, cursor and presence updates; redraws
/// only what changed.
struct ChatLoop {
    enum Event: Sendable {
        case terminal(TerminalEvents.Event)
        case state(Result<ChatState, ChatFailure>)
        case tick
    }

    static let pollInterval = Duration.milliseconds(250)
    /// The longest one `chat-state` long poll waits for a change; shorter while someone types,
    /// so a typing line that times out (with no event) goes away promptly.
    static let longPoll = Duration.seconds(5)
    static let longPollWhileTyping = Duration.milliseconds(500)
    /// The least time between two `chat-state` requests.
    static let minimumPollGap = Duration.milliseconds(50)

    let client: ChatClient
    /// The terminal's input and output descriptors.
    let input: Int32, output: Int32
    /// Whether SIGWINCH, SIGTERM, SIGHUP and SIGINT are handled (the process's own terminal).
    let handlesSignals: Bool
    var screen = ChatScreen()
    private var decoder = ChatKeyDecoder()
    private var throttle = EphemeralThrottle()
    private var size: (width: Int, height: Int)
    private var drawn: [String] = []
    private var isTyping = false
    private var lastKeystroke: UInt64 = 0
    private var lastActivity: UInt64
    private var publishedFocus: String?
    private var presence = ("online", String?.none)

    init(client: ChatClient, input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, handlesSignals: Bool = true) {
        self.client = client
        self.input = input
        self.output = output
        self.handlesSignals = handlesSignals
        size = RawTerminal.size(of: output)
        screen.size = size
        lastActivity = Self.now()
        let environment = ProcessInfo.processInfo.environment
        screen.trueColor = ["truecolor", "24bit"].contains(environment["COLORTERM"] ?? "")
            || environment["STREAMINGCHAT_TRUECOLOR"] == "1"
        screen.utcOffsetSeconds = TimeZone.current.secondsFromGMT()
    }

    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    mutating func run() async {
        let terminal = TerminalEvents(input: input, signals: handlesSignals)
        defer { terminal.stop() }
        let (events, sink) = AsyncStream<Event>.makeStream()
        let client = self.client
        let input = terminal.stream
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in input { sink.yield(.terminal(event)) }
            }
            group.addTask {
                // Long polls: each answers once the node has changed since the last state seen.
                var seen: UInt64?
                var wait = Self.longPoll
                var lastRequest: ContinuousClock.Instant?
                while !Task.isCancelled {
                    // At most one state per poll interval while changes pour in (a catch-up sends
                    // an event per message): each answer rebuilds the whole screen's state.
                    if let lastRequest { try? await Task.sleep(until: lastRequest + Self.minimumPollGap) }
                    lastRequest = .now
                    let result = await client.state(after: seen, wait: wait)
                    sink.yield(.state(result))
                    switch result {
                    case .success(let state):
                        seen = state.revision
                        wait = state.typing.isEmpty ? Self.longPoll : Self.longPollWhileTyping
                    case .failure: try? await Task.sleep(for: Self.pollInterval) // the node is away: retry gently
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.pollInterval)
                    sink.yield(.tick)
                }
            }
            await heartbeat()
            draw()
            loop: for await event in events {
                switch event {
                case .terminal(.input(let bytes)):
                    for key in decoder.keys(from: bytes) {
                        if await perform(screen.handle(key)) == false { break loop }
                    }
                case .terminal(.resize):
                    size = RawTerminal.size(of: output)
                    screen.size = size
                    drawn = []
                case .terminal(.endOfInput), .terminal(.terminate):
                    break loop
                case .state(.success(let state)):
                    screen.state = state
                    screen.connectionError = nil
                    await publishFocus()
                case .state(.failure(let failure)):
                    screen.connectionError = failure.message
                case .tick:
                    await tick()
                }
                draw()
            }
            group.cancelAll()
            sink.finish()
        }
        if isTyping { await client.publish("typing", ["typing": "false"]) }
    }

    /// Carries out `action`; false to leave.
    private mutating func perform(_ action: ChatAction) async -> Bool {
        let now = Self.now()
        lastActivity = now
        switch action {
        case .none, .redraw:
            break
        case .quit:
            return false
        case .composing:
            lastKeystroke = now
            await composing(now: now)
        case .send(let text):
            await stopTyping()
            if case .failure(let failure) = await client.call(.send(conversation: client.conversation, text: text)) {
                screen.notice = ["not sent: \(failure.message)"]
                screen.composer = text
            }
            await refresh()
        case .edit(let id, let text):
            report(await client.call(.edit(conversation: client.conversation, message: id, text: text)), done: "edited \(id)")
            await refresh()
        case .delete(let id):
            report(await client.call(.delete(conversation: client.conversation, message: id)), done: "deleted \(id)")
            await refresh()
        case .invite(let permission, let invitee):
            // A share link (or a direct invitation): the URL carries the addresses to dial.
            let terms = ControlCommand.LinkTerms(permission: permission)
            switch await client.call(.linkCreate(conversation: client.conversation, terms: terms, invitee: invitee)) {
            case .success(let result):
                let link = try? result.decoded(as: ShareLink.self)
                let url = link?.url ?? "?"
                let whom = invitee.map { "for \($0) (delivered to their node when you share a session)" } ?? "link"
                screen.notice = ["invite (\(permission)) \(whom); to join:", "streamingchat join '\(url)'"]
                // The short code fits on one line and survives copying from a wrapped screen.
                if let code = link?.code { screen.notice.append("or: streamingchat join '\(code)'") }
            case .failure(let failure):
                screen.notice = ["cannot invite: \(failure.message)"]
            }
        case .setStatus(let status, let text):
            presence = (status, text)
            await heartbeat()
            screen.notice = ["status: \(status)" + (text.map { " – \($0)" } ?? "")]
        case .audit:
            switch await client.call(.audit(conversation: client.conversation, query: ControlCommand.AuditQuery(csv: true))) {
            case .success(let result):
                let lines = ChatScreen.auditSummary(csv: (try? result.decoded(as: AuditResult.self))?.csv ?? "", last: 6)
                screen.notice = lines.isEmpty ? ["the audit trail is empty"] : lines
            case .failure(let failure):
                screen.notice = ["cannot read the audit trail: \(failure.message)"]
            }
        case .answerInvitation(let id, let accept):
            screen.notice = [accept ? "joining…" : "declining…"]
            draw()
            // Answered through a member's node: as long as a join may take.
            let command: ControlCommand = accept ? .join(token: id, address: nil, timeoutSeconds: 15)
                : .decline(token: id, address: nil, timeoutSeconds: 15)
            switch await client.call(command, timeout: .seconds(30)) {
            case .success(let result):
                let conversation = (try? result.decoded(as: ConversationResult.self))?.conversation ?? "?"
                screen.notice = accept
                    ? ["joined \(conversation.prefix(12)); open it with: streamingchat chat \(conversation.prefix(12))"]
                    : ["declined; the inviter sees it"]
            case .failure(let failure):
                screen.notice = ["cannot \(accept ? "accept" : "decline"): \(failure.message)"]
            }
        case .grant(let member, let permission):
            report(await client.call(.grant(conversation: client.conversation, member: member, permission: permission)),
                   done: "\(member) now has \(permission) permission")
        case .revoke(let member):
            report(await client.call(.revoke(conversation: client.conversation, member: member)), done: "removed \(member) from the conversation")
        case .listRequests:
            switch await client.call(.requests(conversation: client.conversation)) {
            case .success(let result):
                let requests = ((try? result.decoded(as: AccessRequestsResult.self))?.requests ?? []).filter { !$0.granted }
                screen.notice = requests.isEmpty ? ["no open access requests"] : requests.map { request in
                    let name = request.authorName ?? String(request.author.prefix(12))
                    return "\(name) asks for \(request.permission)" + (request.note.isEmpty ? "" : ": “\(request.note)”")
                        + "  (/grant \(name) \(request.permission))"
                }
            case .failure(let failure):
                screen.notice = ["cannot list access requests: \(failure.message)"]
            }
        case .listInvitations:
            var lines = screen.receivedInvitationLines()
            if case .success(let result) = await client.call(.invitations(conversation: client.conversation)),
               let sent = (try? result.decoded(as: InvitationsResult.self))?.invitations {
                let names = Dictionary((screen.state?.members ?? []).map { ($0.key, $0.name) }) { first, _ in first }
                lines += sent.filter { $0.state == "pending" }.map { link in
                    let invitee = link.invitee.map { names[$0] ?? String($0.prefix(12)) + "…" } ?? "?"
                    return "sent: \(link.permission) invitation for \(invitee) (\(link.tokenID.prefix(8)), not answered yet)"
                }
            }
            screen.notice = lines.isEmpty ? ["no pending invitations"] : lines
        case .requestAccess(let permission, let note):
            report(await client.call(.requestAccess(conversation: client.conversation, permission: permission,
                                                                  note: note)),
                   done: "asked the admins for \(permission) permission")
        }
        return true
    }

    private mutating func report(_ result: Result<JSONValue, ChatFailure>, done: String) {
        switch result {
        case .success: screen.notice = [done]
        case .failure(let failure): screen.notice = [failure.message]
        }
    }

    private mutating func refresh() async {
        if case .success(let state) = await client.state() { screen.state = state }
    }

    /// Typing started or continues: at most once per the policy's interval; stops when the
    /// composer empties or holds a command.
    private mutating func composing(now: UInt64) async {
        let composer = screen.composer
        guard screen.state?.canSend == true, !composer.isEmpty, !composer.hasPrefix("/") else {
            await stopTyping()
            return
        }
        guard throttle.shouldSend(.typing(Typing(isTyping: true)), now: now) else { return }
        isTyping = true
        await client.publish("typing", ["typing": "true"])
    }

    private mutating func stopTyping() async {
        guard isTyping else { return }
        isTyping = false
        _ = throttle.shouldSend(.typing(Typing(isTyping: false)), now: Self.now())
        await client.publish("typing", ["typing": "false"])
    }

    private mutating func tick() async {
        let now = Self.now()
        if isTyping, now >= lastKeystroke, now - lastKeystroke >= throttle.policy.typingTTL { await stopTyping() }
        await publishFocus()
        if throttle.heartbeatDue(now: now) { await heartbeat() }
    }

    /// Announces the focused message (the last visible one) when it changed, within the cursor rate.
    private mutating func publishFocus() async {
        guard let focus = screen.focusedMessage, focus != publishedFocus else { return }
        let count = screen.state?.totalMessages ?? 0
        guard throttle.shouldSend(.cursor(Cursor(scrollTop: 0, scrollHeight: 0, viewportHeight: 0)), now: Self.now()) else {
            return // retried on the next tick
        }
        publishedFocus = focus
        await client.publish("cursor", ["message": focus, "scrollTop": String(max(count - size.height, 0)),
                                        "scrollHeight": String(count), "viewportHeight": String(size.height)])
    }

    /// Presence with the latest activity time (a heartbeat that also keeps auto-away right).
    private mutating func heartbeat() async {
        let now = Self.now()
        _ = throttle.shouldSend(.heartbeat, now: now)
        var fields = ["status": presence.0, "lastActiveAt": String(lastActivity)]
        if let text = presence.1 { fields["text"] = text }
        await client.publish("presence", fields)
    }

    /// Redraws the lines that changed since the last frame, then puts the cursor in the composer.
    private mutating func draw() {
        let lines = screen.lines(width: size.width, height: size.height)
        var out = "\u{1B}[?25l"
        if drawn.count != lines.count { out += "\u{1B}[2J" }
        for (row, line) in lines.enumerated() where drawn.count != lines.count || drawn[row] != line {
            out += "\u{1B}[\(row + 1);1H\u{1B}[2K" + line + "\u{1B}[0m"
        }
        out += "\u{1B}[\(size.height);\(screen.composerColumn(width: size.width))H\u{1B}[?25h"
        drawn = lines
        RawTerminal.write(out, to: output)
    }
}
