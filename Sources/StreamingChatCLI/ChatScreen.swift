import ChatControl
import ChatCore
import ChatNode

/// A key the terminal chat reacts to.
enum ChatKey: Sendable, Hashable {
    /// Printable text (one or more characters, as typed or pasted).
    case text(String)
    case backspace
    case enter
    /// Ctrl-U: clear the composer.
    case clearLine
    /// Ctrl-C.
    case interrupt
    /// Ctrl-D.
    case endOfInput
    /// PgUp, PgDn, Home, End, the arrows and the mouse wheel: move through the scrollback.
    case scroll(Scroll)

    /// A scrollback movement.
    enum Scroll: Sendable, Hashable {
        case lineUp, lineDown, pageUp, pageDown, top, bottom
    }
}

/// Turns terminal input bytes into ``ChatKey``s: UTF-8 text (a character split across reads is
/// kept until its last byte arrives), Enter, Backspace, Ctrl-C/D/U; escape sequences (arrows,
/// function keys) and other control bytes are dropped. Pure.
struct ChatKeyDecoder: Sendable {
    private var pending: [UInt8] = []

    /// The keys in `bytes`, after whatever an earlier call kept back.
    /// - Complexity: O(bytes).
    mutating func keys(from bytes: [UInt8]) -> [ChatKey] {
        let input = pending + bytes
        pending = []
        var keys: [ChatKey] = []
        var text: [UInt8] = []
        func flush() {
            if !text.isEmpty { keys.append(.text(String(decoding: text, as: UTF8.self))) }
            text = []
        }
        var index = 0
        while index < input.count {
            let byte = input[index]
            switch byte {
            case 0x1B:
                flush()
                index += 1
                guard index < input.count else { break }
                if input[index] == UInt8(ascii: "[") {
                    let start = index + 1
                    index = start
                    while index < input.count, !(0x40 ... 0x7E).contains(input[index]) { index += 1 }
                    guard index < input.count else {
                        pending = Array(input[(start - 2)...]) // the rest arrives with the next read
                        return keys
                    }
                    let parameters = String(decoding: input[start ..< index], as: UTF8.self)
                    if let scroll = Self.scroll(final: input[index], parameters: parameters) { keys.append(.scroll(scroll)) }
                } else if input[index] == UInt8(ascii: "O") {
                    index += 1
                    if index < input.count, let scroll = Self.scroll(final: input[index], parameters: "") {
                        keys.append(.scroll(scroll))
                    }
                }
            case 0x03: flush(); keys.append(.interrupt)
            case 0x04: flush(); keys.append(.endOfInput)
            case 0x15: flush(); keys.append(.clearLine)
            case 0x0D, 0x0A: flush(); keys.append(.enter)
            case 0x7F, 0x08: flush(); keys.append(.backspace)
            case 0x00 ..< 0x20: flush()
            default:
                let length = Self.sequenceLength(byte)
                if index + length > input.count {
                    flush()
                    pending = Array(input[index...])
                    return keys
                }
                text.append(contentsOf: input[index ..< index + length])
                index += length
                continue
            }
            index += 1
        }
        flush()
        return keys
    }

    /// The scrollback movement of a CSI (or SS3) sequence: arrows, PgUp/PgDn, Home/End in their
    /// xterm and VT220 forms, and the SGR mouse wheel (buttons 64 and 65). Terminals in the
    /// alternate-scroll mode the chat turns on send the wheel as arrows.
    static func scroll(final: UInt8, parameters: String) -> ChatKey.Scroll? {
        switch (Character(Unicode.Scalar(final)), parameters) {
        case ("A", _): .lineUp
        case ("B", _): .lineDown
        case ("H", ""), ("~", "1"), ("~", "7"): .top
        case ("F", ""), ("~", "4"), ("~", "8"): .bottom
        case ("~", "5"): .pageUp
        case ("~", "6"): .pageDown
        case ("M", _) where parameters.hasPrefix("<64;"): .lineUp
        case ("M", _) where parameters.hasPrefix("<65;"): .lineDown
        default: nil
        }
    }

    private static func sequenceLength(_ lead: UInt8) -> Int {
        switch lead {
        case 0xC0 ... 0xDF: 2
        case 0xE0 ... 0xEF: 3
        case 0xF0 ... 0xF7: 4
        default: 1
        }
    }
}

/// What the chat loop should do after a key.
enum ChatAction: Sendable, Hashable {
    /// Nothing to do.
    case none
    /// Only the screen changed.
    case redraw
    /// The composer's text changed (drives the typing indicator).
    case composing
    case send(String)
    case edit(id: String, text: String)
    case delete(id: String)
    /// A share link, or with `invitee` (a name or key) a direct invitation.
    case invite(permission: Permission, invitee: String? = nil)
    case setStatus(status: String, text: String?)
    case audit
    case requestAccess(permission: Permission, note: String)
    /// Give a member (a name or key) a permission.
    case grant(member: String, permission: Permission)
    /// Remove a member (a name or key).
    case revoke(member: String)
    /// List the access requests not granted yet.
    case listRequests
    /// List direct invitations: those this node sent here, and those it received.
    case listInvitations
    /// Accept or decline a direct invitation delivered to this node (by its token id prefix).
    case answerInvitation(id: String, accept: Bool)
    case quit
}

/// The terminal chat's screen, without I/O: the latest ``ChatState``, the composer and the
/// notices, drawn as lines of text (with ANSI colour) for a width × height, and keys turned into
/// ``ChatAction``s.
struct ChatScreen: Sendable {
    /// The width from which the member list shows on the right.
    static let memberPanelMinimumWidth = 100
    /// The member list's width, separator included.
    static let memberPanelWidth = 30
    static let help = "/edit <id> <text>  /delete <id>  /invite [permission] [name|key]  /members  /ids  "
        + "/status online|away|dnd [text]  /audit  /request [permission] [note]  /requests  "
        + "/grant <name> <permission>  /revoke <name>  "
        + "/invitations  /accept <id>  /decline <id>  /quit"

    /// What the node last said; nil before its first answer.
    var state: ChatState?
    /// The text being composed.
    var composer = ""
    /// Lines shown above the typing line until the next command (invite tokens, audit lines, errors).
    var notice: [String] = []
    /// Why the node cannot be reached, when it cannot.
    var connectionError: String?
    /// Show message ids before each message.
    var showIDs = false
    /// Show the member list in place of the messages (narrow terminals).
    var showMembers = false
    /// 24-bit colour; otherwise the 256-colour palette.
    var trueColor = true
    /// The local time zone's offset from UTC, for HH:MM.
    var utcOffsetSeconds = 0
    /// The window, as last drawn (scrolling keys move by its pages).
    var size = (width: 80, height: 24)
    /// How many message rows the view is above the newest (0: following new messages).
    var scrollback = 0
    /// How many message rows there were when ``scrollback`` was set: rows that arrive later
    /// are added to it, so new messages do not move what the reader is looking at.
    private var scrolledAtRows = 0

    // MARK: Keys

    /// Applies `key` to the composer; returns what the loop should do.
    mutating func handle(_ key: ChatKey) -> ChatAction {
        switch key {
        case .text(let text):
            composer += text
            return .composing
        case .backspace:
            guard !composer.isEmpty else { return .none }
            composer.removeLast()
            return .composing
        case .clearLine:
            guard !composer.isEmpty else { return .none }
            composer = ""
            return .composing
        case .interrupt:
            return .quit
        case .endOfInput:
            return composer.isEmpty ? .quit : .none
        case .enter:
            return enter()
        case .scroll(let movement):
            return scroll(movement)
        }
    }

    /// Moves the view through the scrollback by a row, a page (the view less one row) or to
    /// either end.
    private mutating func scroll(_ movement: ChatKey.Scroll) -> ChatAction {
        let total = messageLayout(width: messageWidth(size.width)).count
        let page = max(bodyHeight(width: size.width, height: size.height) - 1, 1)
        let current = effectiveScrollback(rows: total)
        let maximum = Self.maximumScrollback(rows: total, height: bodyHeight(width: size.width, height: size.height))
        let target = switch movement {
        case .lineUp: current + 1
        case .lineDown: current - 1
        case .pageUp: current + page
        case .pageDown: current - page
        case .top: maximum
        case .bottom: 0
        }
        setScrollback(min(max(target, 0), maximum), total: total)
        return .redraw
    }

    /// The farthest the view scrolls back: until the first row shows above the line that counts
    /// the newer rows; 0 when everything fits.
    private static func maximumScrollback(rows: Int, height: Int) -> Int {
        rows <= height ? 0 : rows - (height - 1)
    }

    /// Sets the scrollback, remembering how many message rows exist now.
    private mutating func setScrollback(_ rows: Int, total: Int) {
        scrollback = rows
        scrolledAtRows = total
    }

    /// The scrollback now that `rows` message rows exist: rows added since it was set push it
    /// up, so the view stays on the same messages; 0 stays 0 (following the newest).
    private func effectiveScrollback(rows: Int) -> Int {
        guard scrollback > 0 else { return 0 }
        return scrollback + max(rows - scrolledAtRows, 0)
    }

    /// Scrolls so the message `name`'s cursor is on is the last row in view.
    private mutating func jump(to name: String) -> ChatAction {
        guard let state else { return .redraw }
        let wanted = name.lowercased()
        guard let cursor = state.cursors.first(where: { $0.name.lowercased() == wanted })
            ?? state.cursors.first(where: { $0.name.lowercased().hasPrefix(wanted) }) else {
            let readers = state.cursors.map(\.name)
            notice = [readers.isEmpty ? "nobody else is reading this conversation now"
                : "no cursor of \(name); reading now: \(readers.joined(separator: ", "))"]
            return .redraw
        }
        let layout = messageLayout(width: messageWidth(size.width))
        guard let row = layout.lastIndex(where: { $0.message == cursor.message }) else {
            notice = ["\(cursor.name) is reading a message older than the chat holds (streamingchat log shows it)"]
            return .redraw
        }
        setScrollback(layout.count - 1 - row, total: layout.count)
        notice = ["at \(cursor.name)'s cursor (End: back to the newest)"]
        return .redraw
    }

    private mutating func enter() -> ChatAction {
        let line = composer.trimmingWhitespace
        guard !line.isEmpty else { return .none }
        if line.hasPrefix("/") {
            composer = ""
            notice = []
            return command(line)
        }
        guard let state else {
            notice = ["not connected to the node yet; the message was kept"]
            return .redraw
        }
        guard state.canSend else {
            notice = [state.reason ?? "you cannot send messages here"]
            return .redraw
        }
        composer = ""
        notice = []
        return .send(line)
    }

    private mutating func command(_ line: String) -> ChatAction {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let rest = { (count: Int) -> String in words.dropFirst(count).joined(separator: " ") }
        switch words.first ?? "" {
        case "/quit", "/exit", "/q":
            return .quit
        case "/help":
            notice = [Self.help]
        case "/ids":
            showIDs.toggle()
        case "/jump":
            guard words.count >= 2 else {
                notice = ["usage: /jump <name>  (to a member's cursor; End goes back to the newest)"]
                return .redraw
            }
            return jump(to: rest(1))
        case "/members":
            if size.width >= Self.memberPanelMinimumWidth {
                notice = memberSummary()
            } else {
                showMembers.toggle()
            }
        case "/edit":
            guard words.count >= 3 else {
                notice = ["usage: /edit <id> <text>  (/ids shows message ids)"]
                return .redraw
            }
            return .edit(id: words[1], text: rest(2))
        case "/delete":
            guard words.count == 2 else {
                notice = ["usage: /delete <id>  (/ids shows message ids)"]
                return .redraw
            }
            return .delete(id: words[1])
        case "/invite":
            // `/invite [permission] [name or key]`: a permission word first, else `comment`.
            let named = words.count > 1 ? Permission(name: words[1]) : nil
            let hasPermission = named != nil
            let permission = named ?? .comment
            let invitee = rest(hasPermission ? 2 : 1)
            return .invite(permission: permission, invitee: invitee.isEmpty ? nil : invitee)
        case "/status":
            let statuses = ["online", "away", "dnd"]
            guard words.count >= 2, statuses.contains(words[1]) else {
                notice = ["usage: /status online|away|dnd [text]"]
                return .redraw
            }
            let text = rest(2)
            return .setStatus(status: words[1], text: text.isEmpty ? nil : text)
        case "/audit":
            return .audit
        case "/request":
            var permission = Permission.comment
            var from = 1
            if words.count > 1, let named = Permission(name: words[1]) {
                permission = named
                from = 2
            }
            return .requestAccess(permission: permission, note: rest(from))
        case "/invitations":
            return .listInvitations
        case "/requests":
            return .listRequests
        case "/grant":
            guard words.count >= 3, let permission = Permission(name: words[words.count - 1]) else {
                notice = ["usage: /grant <name or key> view|comment|edit|admin"]
                return .redraw
            }
            return .grant(member: words[1 ..< words.count - 1].joined(separator: " "), permission: permission)
        case "/revoke", "/remove":
            guard words.count >= 2 else {
                notice = ["usage: /revoke <name or key>  (removes the member)"]
                return .redraw
            }
            return .revoke(member: rest(1))
        case "/accept", "/decline":
            guard words.count == 2 else {
                notice = ["usage: \(words[0]) <id>  (/invitations lists them)"]
                return .redraw
            }
            return .answerInvitation(id: words[1], accept: words[0] == "/accept")
        case let other:
            notice = ["unknown command \(other); try /help"]
        }
        return .redraw
    }

    /// Every member on a line: name, permission, presence, and when an offline one was last seen.
    func memberSummary() -> [String] {
        guard let state else { return ["not connected to the node yet"] }
        return state.members.map { member in
            var line = member.name + (member.isSelf ? " (you)" : "") + " · " + member.permission + " · " + member.status
            if let custom = member.customStatus { line += " – " + custom }
            if member.status == "offline", let seen = member.lastSeen {
                line += " · last seen " + TerminalText.ago(state.now > seen ? state.now - seen : 0)
            }
            return line
        }
    }

    /// The pending direct invitations delivered to this node, a line each.
    func receivedInvitationLines() -> [String] {
        (state?.invitations ?? []).map { invitation in
            let label = invitation.label.isEmpty ? "" : " \"\(invitation.label)\""
            return "\(invitation.tokenID.prefix(8))  \(invitation.permission) in \(invitation.conversation.prefix(12))\(label)"
                + "  from \(invitation.issuer.prefix(16))…  (/accept or /decline \(invitation.tokenID.prefix(8)))"
        }
    }

    // MARK: Drawing

    /// The message whose last row is the last one in view (the reader's focus); nil when none.
    var focusedMessage: String? {
        guard !showMembers || size.width >= Self.memberPanelMinimumWidth else { return nil }
        // Following the newest (the usual case, asked on every tick): no layout needed.
        guard scrollback > 0 else { return state?.messages.last?.id }
        let layout = messageLayout(width: messageWidth(size.width))
        let bottom = layout.count - 1 - effectiveScrollback(rows: layout.count)
        guard bottom >= 0 else { return nil }
        return layout[...bottom].last(where: { $0.message != nil })?.message
    }

    /// The width the messages get: all of it, or what the member panel leaves.
    private func messageWidth(_ width: Int) -> Int {
        width >= Self.memberPanelMinimumWidth ? width - Self.memberPanelWidth : width
    }

    /// The notice rows, wrapped, at most a third of the screen.
    private func noticeRows(width: Int, height: Int) -> [[Segment]] {
        Array(notice.flatMap { Self.wrap([Segment($0, style: "\u{1B}[33m")], width: width, indent: 0) }
            .suffix(max(1, height / 3)))
    }

    /// The rows between the header and the notices.
    private func bodyHeight(width: Int, height: Int) -> Int {
        height - 3 - noticeRows(width: width, height: height).count
    }

    /// The screen as `height` lines, each at most `width` visible columns (ANSI sequences aside).
    /// - Complexity: O(m · w) for m messages drawn and width w.
    func lines(width: Int, height: Int) -> [String] {
        guard width >= 20, height >= 6 else {
            return [Self.fit("window too small", width: max(width, 1))] + Array(repeating: "", count: max(height - 1, 0))
        }
        let noticeRows = noticeRows(width: width, height: height)
        let bodyHeight = height - 3 - noticeRows.count
        var screen = [header(width: width)]
        let panel = width >= Self.memberPanelMinimumWidth
        let messageWidth = messageWidth(width)
        var body = showMembers && !panel
            ? Array(memberRows(width: width).prefix(bodyHeight))
            : messageView(width: messageWidth, height: bodyHeight)
        body += Array(repeating: "", count: bodyHeight - body.count)
        if panel {
            let members = memberRows(width: Self.memberPanelWidth - 2)
            body = body.enumerated().map { row, line in
                let side = row < members.count ? members[row] : ""
                return Self.pad(line, to: messageWidth - 1) + "\u{1B}[0m\u{1B}[2m│\u{1B}[0m " + side
            }
        }
        screen += body
        screen += noticeRows.map { Self.render($0) }
        screen.append(typingRow(width: width))
        screen.append(composerRow(width: width))
        return screen
    }

    /// The message rows in view: the newest, or the scrolled-to ones with a line saying how
    /// many newer rows are below.
    private func messageView(width: Int, height: Int) -> [String] {
        let layout = messageLayout(width: width)
        let scrolled = min(effectiveScrollback(rows: layout.count), Self.maximumScrollback(rows: layout.count, height: height))
        guard scrolled > 0 else { return layout.suffix(height).map(\.row) }
        let end = layout.count - scrolled
        let visible = layout[max(end - (height - 1), 0) ..< end].map(\.row)
        let below = "\u{1B}[7m" + Self.fit(" ↓ \(scrolled) newer line\(scrolled == 1 ? "" : "s") · End: newest · PgDn ",
                                           width: width - 1) + "\u{1B}[0m"
        return visible + [below]
    }

    /// The column (1-based) where the terminal cursor goes: after the composer's text.
    func composerColumn(width: Int) -> Int {
        min(3 + TerminalText.width(of: composerTail(width: width)), max(width, 1))
    }

    private func header(width: Int) -> String {
        guard let state else {
            return "\u{1B}[7m" + Self.pad(" " + (connectionError ?? "connecting to the node…"), to: width) + "\u{1B}[0m"
        }
        let sync: String
        if let connectionError {
            sync = "node unreachable: \(connectionError)"
        } else if state.joining {
            sync = "joining…"
        } else if state.peers == 0 {
            sync = "no peers connected"
        } else {
            sync = "synced with \(state.peers) peer\(state.peers == 1 ? "" : "s")"
                + (state.pending > 0 ? ", \(state.pending) pending" : "")
        }
        let count = state.members.count
        var text = " \(state.title) · \(count) member\(count == 1 ? "" : "s") · \(sync)"
        if !state.invitations.isEmpty {
            let invitations = state.invitations.count
            text += " · \(invitations) invitation\(invitations == 1 ? "" : "s") (/invitations)"
        }
        if state.openRequests > 0 {
            text += " · \(state.openRequests) access request\(state.openRequests == 1 ? "" : "s") (/requests)"
        }
        return "\u{1B}[7m" + Self.pad(Self.fit(text, width: width), to: width) + "\u{1B}[0m"
    }

    /// Every message as rows of `width` columns, each row with the id of the message it ends
    /// (nil for the other rows of a message and for notes).
    private func messageLayout(width: Int) -> [(row: String, message: String?)] {
        guard let state else { return [] }
        var readers: [String: [String]] = [:]
        for cursor in state.cursors { readers[cursor.message, default: []].append(cursor.name) }
        let colors = state.colors
        var rows: [(row: String, message: String?)] = []
        if state.totalMessages > state.messages.count {
            let older = state.totalMessages - state.messages.count
            rows.append(("\u{1B}[2m" + Self.fit("… \(older) earlier message\(older == 1 ? "" : "s"): streamingchat log",
                                                width: width - 1) + "\u{1B}[0m", nil))
        }
        // Timeline notes go before the first message posted after them; those older than the
        // messages held are left out when older messages are too.
        let isWhole = state.totalMessages == state.messages.count
        var notes = state.notes.sorted { $0.at < $1.at }[...]
        if !isWhole, let first = state.messages.first { notes = notes.drop { $0.at < first.postedAt } }
        let isAdmin = state.permission == "admin"
        func noteRows(until: UInt64?) {
            while let note = notes.first, until.map({ note.at <= $0 }) ?? true {
                notes = notes.dropFirst()
                var text = note.text
                if note.kind == "request", isAdmin { text += " (/requests, /grant)" }
                let segments = [Segment(time(note.at) + " ", style: "\u{1B}[2m"), Segment("· " + text, style: "\u{1B}[2;3m")]
                rows += Self.wrap(segments, width: width - 1, indent: 6).map { (Self.render($0), nil) }
            }
        }
        for message in state.messages {
            noteRows(until: message.postedAt)
            var segments = [Segment(time(message.postedAt) + " ", style: "\u{1B}[2m")]
            if showIDs { segments.append(Segment(Self.shortID(message.id) + " ", style: "\u{1B}[2m")) }
            let name = message.authorName ?? "User \(message.author.dropFirst(3).prefix(8))"
            segments.append(Segment(name, style: color(colors[message.author]) + "\u{1B}[1m"))
            segments.append(Segment(": ", style: ""))
            if message.deleted {
                segments.append(Segment("[deleted]", style: "\u{1B}[2m"))
            } else {
                segments.append(Segment(message.text, style: ""))
                if message.edited { segments.append(Segment(" (edited)", style: "\u{1B}[2m")) }
            }
            if let names = readers[message.id] {
                segments.append(Segment(" ◂ " + names.joined(separator: ", "), style: "\u{1B}[2m"))
            }
            let wrapped = Self.wrap(segments, width: width - 1, indent: 6).map { Self.render($0) }
            rows += wrapped.enumerated().map { ($1, $0 == wrapped.count - 1 ? message.id : nil) }
        }
        noteRows(until: nil)
        if state.messages.isEmpty { rows.append(("\u{1B}[2mno messages yet — type one and press Enter\u{1B}[0m", nil)) }
        return rows
    }

    private func memberRows(width: Int) -> [String] {
        guard let state else { return [] }
        var rows = ["\u{1B}[1mMembers (\(state.members.count))\u{1B}[0m"]
        for member in state.members {
            let dot = switch member.status {
            case "online": "\u{1B}[32m●"
            case "away": "\u{1B}[33m◐"
            case "dnd": "\u{1B}[31m⊘"
            default: "\u{1B}[90m○"
            }
            var segments = [Segment(member.name + (member.isSelf ? " (you)" : ""), style: color(member.color)),
                            Segment(" " + member.permission, style: "\u{1B}[2m")]
            if member.status != "online" { segments.append(Segment(" " + member.status, style: "\u{1B}[2m")) }
            if let custom = member.customStatus { segments.append(Segment(" – " + custom, style: "\u{1B}[2m")) }
            if member.status == "offline", let seen = member.lastSeen {
                segments.append(Segment(" " + TerminalText.ago(state.now > seen ? state.now - seen : 0), style: "\u{1B}[2m"))
            }
            let line = Self.wrap(segments, width: width - 2, indent: 0).first ?? []
            rows.append(dot + "\u{1B}[0m " + Self.render(line))
        }
        return rows
    }

    /// Who is typing; when nobody is, a hint for newcomers.
    private func typingRow(width: Int) -> String {
        guard let names = state?.typing, let line = Self.typingLine(names: names) else {
            return "\u{1B}[2m" + Self.fit("/help: commands · PgUp/PgDn: scroll · /jump <name>: a reader's place", width: width)
                + "\u{1B}[0m"
        }
        return "\u{1B}[2;3m" + Self.fit(line, width: width) + "\u{1B}[0m"
    }

    /// The typing line for these names, in order: one or two by name, more as a count.
    static func typingLine(names: [String]) -> String? {
        switch names.count {
        case 0: nil
        case 1: "\(names[0]) is typing…"
        case 2: "\(names[0]) and \(names[1]) are typing…"
        default: "\(names.count) people are typing…"
        }
    }

    private func composerRow(width: Int) -> String {
        if let state, !state.canSend, composer.isEmpty {
            return "\u{1B}[1m> \u{1B}[0m\u{1B}[2m" + Self.fit("[\(state.reason ?? "sending is disabled")]", width: width - 2)
                + "\u{1B}[0m"
        }
        return "\u{1B}[1m> \u{1B}[0m" + composerTail(width: width)
    }

    /// The end of the composer that fits after "> " (in columns), made safe for the terminal.
    private func composerTail(width: Int) -> String {
        let room = max(width - 3, 1)
        var tail: [Character] = []
        var used = 0
        for character in TerminalText.safe(composer).reversed() {
            let columns = TerminalText.width(of: character)
            guard used + columns <= room else { break }
            tail.append(character)
            used += columns
        }
        return String(tail.reversed())
    }

    private func time(_ postedAt: UInt64) -> String {
        let seconds = Int(postedAt / 1000) + utcOffsetSeconds
        let minutes = ((seconds / 60) % 1440 + 1440) % 1440
        let hours = minutes / 60, rest = minutes % 60
        return (hours < 10 ? "0" : "") + "\(hours):" + (rest < 10 ? "0" : "") + "\(rest)"
    }

    /// The last `last` entries of an audit CSV (`at,action,actor,actorName,target,targetName,message,detail…`,
    /// header first) as short lines: `HH:MM:SS action actor → target detail`.
    static func auditSummary(csv: String, last: Int) -> [String] {
        let rows = csv.split(whereSeparator: \.isNewline).dropFirst().suffix(last)
        return rows.map { row in
            let fields = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            func field(_ index: Int) -> String { index < fields.count ? fields[index] : "" }
            func person(_ key: Int) -> String {
                field(key + 1).isEmpty ? String(field(key).dropFirst(3).prefix(8)) : field(key + 1)
            }
            let time = field(0).count >= 19 ? String(field(0).dropFirst(11).prefix(8)) : field(0)
            var line = "\(time) \(field(1)) \(person(2))"
            if !field(4).isEmpty || !field(5).isEmpty { line += " → \(person(4))" }
            let detail = fields.dropFirst(7).joined(separator: ",")
            if !detail.isEmpty { line += " " + detail }
            return line
        }
    }

    /// A message id as the chat shows it: 8 hex digits of the author and the counter (enough for
    /// `/edit` and `/delete`).
    static func shortID(_ id: String) -> String {
        let parts = id.split(separator: ":")
        guard parts.count == 2 else { return id }
        return "\(parts[0].prefix(8)):\(parts[1])"
    }

    /// The SGR sequence for foreground colour `hex` (#RRGGBB).
    private func color(_ hex: String?) -> String {
        guard let hex, hex.count == 7, let packed = UInt32(hex.dropFirst(), radix: 16) else { return "" }
        let rgb = RGB(packed: packed)
        if trueColor { return "\u{1B}[38;2;\(rgb.red);\(rgb.green);\(rgb.blue)m" }
        let scale = { (channel: UInt8) -> Int in (Int(channel) * 5 + 127) / 255 }
        return "\u{1B}[38;5;\(16 + 36 * scale(rgb.red) + 6 * scale(rgb.green) + scale(rgb.blue))m"
    }

    // MARK: Text layout

    /// A run of text in one style (an SGR sequence, or "" for plain).
    struct Segment: Sendable, Hashable {
        var text: String
        var style: String
        init(_ text: String, style: String) {
            self.text = text
            self.style = style
        }
    }

    /// Wraps styled text into rows of at most `width` terminal columns, breaking between words
    /// (a word wider than a row is split); rows after the first start with `indent` spaces, and
    /// spaces at a break are dropped. Widths are display widths (``TerminalText/width(of:)``:
    /// CJK and emoji take two columns, combining marks none). Line breaks become spaces; control
    /// characters (C0, DEL, C1) and bidirectional overrides become U+FFFD (see ``TerminalText``).
    /// - Complexity: O(characters).
    static func wrap(_ segments: [Segment], width: Int, indent: Int) -> [[Segment]] {
        let width = max(width, indent + 2)
        // The text as (character, width, style) cells, made safe for the terminal.
        var cells: [(character: Character, width: Int, style: Int)] = []
        for (style, segment) in segments.enumerated() {
            for character in segment.text {
                // Other members' text never reaches the terminal as control sequences.
                let visible: Character = character.isNewline ? " "
                    : character.unicodeScalars.contains(where: TerminalText.isUnsafe) ? "\u{FFFD}" : character
                cells.append((visible, TerminalText.width(of: visible), style))
            }
        }
        var rows: [[Segment]] = []
        var row: [Segment] = []
        var used = 0
        func put(_ cell: (character: Character, width: Int, style: Int)) {
            let style = segments[cell.style].style
            if let last = row.last, last.style == style {
                row[row.count - 1].text.append(cell.character)
            } else {
                row.append(Segment(String(cell.character), style: style))
            }
            used += cell.width
        }
        func breakRow() {
            rows.append(row)
            row = indent > 0 ? [Segment(String(repeating: " ", count: indent), style: "")] : []
            used = indent
        }
        var index = 0
        while index < cells.count {
            if cells[index].character == " " {
                if used + 1 > width {
                    breakRow() // the space is dropped at the break
                } else if used > indent || rows.isEmpty {
                    put(cells[index])
                }
                index += 1
                continue
            }
            var end = index
            var wordWidth = 0
            while end < cells.count, cells[end].character != " " {
                wordWidth += cells[end].width
                end += 1
            }
            if used + wordWidth > width, used > indent, wordWidth <= width - indent { breakRow() }
            for cell in cells[index ..< end] {
                if used + cell.width > width { breakRow() }
                put(cell)
            }
            index = end
        }
        rows.append(row)
        return rows
    }

    /// Styled text as a string with SGR sequences, reset after each styled run.
    static func render(_ segments: [Segment]) -> String {
        segments.map { $0.style.isEmpty ? $0.text : $0.style + $0.text + "\u{1B}[0m" }.joined()
    }

    /// `text` cut to `width` columns, with an ellipsis when cut.
    static func fit(_ text: String, width: Int) -> String {
        guard TerminalText.width(of: text) > width else { return text }
        var out = ""
        var used = 0
        for character in text {
            let columns = TerminalText.width(of: character)
            guard used + columns <= width - 1 else { break }
            out.append(character)
            used += columns
        }
        return out + "…"
    }

    /// `line` padded with spaces to `width` visible columns.
    static func pad(_ line: String, to width: Int) -> String {
        let visible = TerminalText.width(of: visibleText(line))
        return visible >= width ? line : line + String(repeating: " ", count: width - visible)
    }

    /// `line` without its ANSI escape sequences: what the terminal shows.
    static func visibleText(_ line: String) -> String {
        var out = ""
        var iterator = line.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\u{1B}" else {
                out.unicodeScalars.append(scalar)
                continue
            }
            guard let next = iterator.next() else { break }
            if next == "[" {
                while let final = iterator.next(), !(0x40 ... 0x7E).contains(final.value) {}
            }
        }
        return out
    }
}

extension String {
    /// The string without leading and trailing whitespace.
    var trimmingWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else {
            return ""
        }
        return String(self[first ... last])
    }
}
