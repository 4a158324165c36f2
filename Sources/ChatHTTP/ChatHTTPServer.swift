import ChatControl
import ChatCore
import ChatNode
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// The node's HTTP API and browser UI: the control commands over HTTP, on loopback only,
/// behind an access secret, plus the static page that drives them (no build step, nothing
/// loaded from outside).
///
/// Every `/api/…` request carries the secret, as `Authorization: Bearer <key>` (apps) or as the
/// session cookie a one-time login sets (the page; see ``AccessKey``); anything else is answered
/// `401 unauthorized`. A cookie is accepted only from the node's own origin: a request that
/// changes something, and every WebSocket, must come with an `Origin` naming this server.
/// Errors carry the
/// CLI's codes: `{"ok":false,"error":{"code","message"}}` with a matching HTTP status.
///
/// | method and path | command |
/// |---|---|
/// | `GET /login?code=…[&conversation=…]` | redeems a one-time login code: sets the session cookie, redirects to the page |
/// | `POST /api/command` | any control request, `{"command","arguments"}` (the control socket's format) |
/// | `GET /api/status` | `status` |
/// | `GET /metrics` | the node's metrics, Prometheus text format (sessions, batches ingested and rejected by reason, commit and catch-up durations, frame bytes, pending bytes) |
/// | `GET /api/conversations`, `POST` `{"title","public"}` | `conversations`, `create` |
/// | `GET /api/conversations/:id/state?after=&wait=` | `chat-state` (a long poll with `after`) |
/// | `GET /api/conversations/:id/messages`, `POST` `{"text"}` | `log`, `send` |
/// | `PATCH /api/conversations/:id/messages/:message` `{"text"}`, `DELETE` | `edit`, `delete` |
/// | `GET /api/conversations/:id/members` | `members` |
/// | `GET /api/conversations/:id/requests` | `requests` |
/// | `GET /api/conversations/:id/audit[?format=csv][&user=&actions=&since=&until=]` | `audit` (CSV as a download) |
/// | `GET /api/conversations/:id/events[?since=ms][&epoch=e&seq=n]` (WebSocket) | the event stream (see ``EventFeeds``) |
public struct ChatHTTPServer: Sendable {
    /// Answers one control request (the daemon's, with its write gate).
    public typealias Handler = @Sendable (ControlRequest) async -> ControlResponse

    let access: AccessKey
    let handle: Handler
    let logins = LoginCodes()
    /// The WebSocket clients' shared per-conversation event feeds.
    let feeds: EventFeeds
    /// The node's metrics in the Prometheus text format, if it records any.
    let metrics: (@Sendable () -> String)?
    /// Unix seconds now (login codes expire).
    let now: @Sendable () -> UInt64

    /// The largest request body read.
    static let maxBodyBytes = 1 << 20

    public init(key: String, now: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) },
                metrics: (@Sendable () -> String)? = nil, handle: @escaping Handler) {
        self.access = AccessKey(key)
        self.metrics = metrics
        self.feeds = EventFeeds(handle: handle)
        self.now = now
        self.handle = handle
    }

    /// Serves on `host:port` (port 0: any free port) until the task is cancelled; `running` gets
    /// the bound port once the server listens.
    public func run(host: String, port: Int, logger: Logger = Logger(label: "streamingchat.http"),
                    running: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            router: router(), server: .http1WebSocketUpgrade(webSocketRouter: webSocketRouter()),
            configuration: .init(address: .hostname(host, port: port), serverName: "streamingchat"),
            onServerRunning: { channel in await running(channel.localAddress?.port ?? port) }, logger: logger)
        do {
            try await app.run()
        } catch {
            await feeds.shutdown()
            throw error
        }
        await feeds.shutdown()
    }

    /// The routes.
    func router() -> Router<BasicRequestContext> {
        let router = Router()
        for (path, type) in [("/", "text/html"), ("/index.html", "text/html"), ("/app.js", "text/javascript"),
                             ("/style.css", "text/css")] {
            router.get(RouterPath(path)) { _, _ in Self.asset(path == "/" ? "index.html" : String(path.dropFirst()), type: type) }
        }
        router.get("login") { request, _ in self.login(request) }
        let api = router.group("api").add(middleware: KeyCheck(access: access))
        api.post("command") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: Self.maxBodyBytes)
            guard let control = try? JSONDecoder().decode(ControlRequest.self, from: Data(buffer: body)) else {
                return Self.failure(.badRequest, code: "invalid_argument", "the body is not a control request {\"command\",\"arguments\"}")
            }
            return await self.answer(control)
        }
        api.get("status") { _, _ in await self.answer(ControlCommand.status.request) }
        router.group("metrics").add(middleware: KeyCheck(access: access)).get { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: self.metrics?() ?? "")))
        }
        api.get("conversations") { _, _ in await self.answer(ControlCommand.conversations.request) }
        api.post("conversations") { request, _ in
            let fields = try await Self.fields(of: request)
            return await self.answer(ControlCommand.create(title: fields["title"] as? String ?? "",
                                                           isPublic: fields["public"] as? Bool ?? false).request)
        }
        api.get("conversations/:id/state") { request, context in
            var arguments = ["conversation": try context.parameters.require("id")]
            arguments["after"] = request.uri.queryParameters["after"].map(String.init)
            arguments["wait"] = request.uri.queryParameters["wait"].map(String.init)
            return await self.answer(ControlRequest(command: "chat-state", arguments: arguments))
        }
        api.get("conversations/:id/messages") { _, context in
            await self.answer(ControlCommand.log(conversation: try context.parameters.require("id")).request)
        }
        api.post("conversations/:id/messages") { request, context in
            let text = try await Self.fields(of: request)["text"] as? String ?? ""
            return await self.answer(ControlCommand.send(conversation: try context.parameters.require("id"), text: text).request)
        }
        api.patch("conversations/:id/messages/:message") { request, context in
            let text = try await Self.fields(of: request)["text"] as? String ?? ""
            return await self.answer(ControlCommand.edit(conversation: try context.parameters.require("id"),
                                                         message: try context.parameters.require("message"), text: text).request)
        }
        api.delete("conversations/:id/messages/:message") { _, context in
            await self.answer(ControlCommand.delete(conversation: try context.parameters.require("id"),
                                                    message: try context.parameters.require("message")).request)
        }
        api.get("conversations/:id/members") { _, context in
            await self.answer(ControlCommand.members(conversation: try context.parameters.require("id")).request)
        }
        api.get("conversations/:id/requests") { _, context in
            await self.answer(ControlCommand.requests(conversation: try context.parameters.require("id")).request)
        }
        api.get("conversations/:id/audit") { request, context in
            let csv = request.uri.queryParameters["format"] == "csv"
            // The same filters as `audit`: user, actions (comma-separated), since, until (ms).
            var arguments = ["conversation": try context.parameters.require("id"), "format": csv ? "csv" : "json"]
            for name in ["user", "actions", "since", "until"] {
                arguments[name] = request.uri.queryParameters[Substring(name)].map(String.init)
            }
            let response = await self.handle(ControlRequest(command: "audit", arguments: arguments))
            guard csv, response.ok, case .object(let object)? = response.result, case .string(let text)? = object["csv"] else {
                return Self.response(response)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/csv; charset=utf-8"
            headers[.contentDisposition] = "attachment; filename=\"audit.csv\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }

    /// The WebSocket routes: a conversation's event stream. Browsers cannot set headers on a
    /// WebSocket, so the key may come as `?key=` (or as the usual bearer header).
    func webSocketRouter() -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("api/conversations/:id/events", shouldUpgrade: { [access] request, _ in
            // A browser always names the page's origin: a page elsewhere cannot ride the cookie.
            guard KeyCheck<BasicWebSocketRequestContext>.isSameOrigin(request),
                  KeyCheck<BasicWebSocketRequestContext>.isAuthorized(request, access: access, keyInQuery: true) else {
                return .dontUpgrade
            }
            return .upgrade([:])
        }) { inbound, outbound, context in
            let conversation = context.requestContext.parameters.get("id") ?? ""
            let query = context.request.uri.queryParameters
            let number = { (name: String) in query[Substring(name)].flatMap { UInt64(String($0)) } }
            var resume: EventFeeds.Resume?
            if let epoch = number("epoch"), let seq = number("seq") {
                resume = EventFeeds.Resume(epoch: epoch, seq: seq)
            } else if let revision = number("revision") {
                resume = EventFeeds.Resume(epoch: 0, seq: revision)
            }
            try await self.stream(conversation, since: number("since"), resume: resume, inbound: inbound, outbound: outbound)
        }
        return router
    }

    /// One client's event stream (see ``EventFeeds``): the whole state first (and, with `since`,
    /// every message posted after that time again as `message_received`), or with `epoch` and
    /// `seq` the events missed since that one (or `sync_required` and the state when they are no
    /// longer kept); then events as the node changes. Client events are carried out as the CLI's
    /// commands, and a refused one comes back as `error`.
    func stream(_ conversation: String, since: UInt64?, resume: EventFeeds.Resume?, inbound: WebSocketInboundStream,
                outbound: WebSocketOutboundWriter) async throws {
        func send(_ value: JSONValue) async throws { try await outbound.write(.text((try? value.jsonString(pretty: false)) ?? "null")) }
        func error(_ code: String, _ message: String) -> JSONValue {
            ["type": "error", "code": .string(code), "message": .string(message)]
        }
        let subscription = await feeds.subscribe(conversation, resumingAfter: resume)
        // Registered before anything is sent: a client gone during the opening still leaves.
        defer { Task { await feeds.unsubscribe(conversation, id: subscription.id) } }
        func sendState(_ state: ChatState) async throws {
            try await send(["type": "state", "revision": .int(Int(clamping: state.revision)),
                            "epoch": .int(Int(clamping: feeds.epoch)), "seq": .int(Int(clamping: subscription.seq)),
                            "state": (try? JSONValue(encoding: state)) ?? .null])
        }
        switch subscription.start {
        case .failed(let code, let message):
            try await send(error(code, message))
            return
        case .fresh(let state):
            try await sendState(state)
            if let since {
                for message in state.messages where message.postedAt > since {
                    try await send(["type": "message_received", "revision": .int(Int(clamping: state.revision)),
                                    "message": (try? JSONValue(encoding: message)) ?? .null])
                }
            }
        case .replay(let events):
            for event in events { try await send(event) }
        case .syncRequired(let state):
            try await sendState(state)
            try await send(["type": "sync_required", "revision": .int(Int(clamping: state.revision)),
                            "epoch": .int(Int(clamping: feeds.epoch)), "seq": .int(Int(clamping: subscription.seq))])
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscription.events { try await send(event) }
                // The feed ended this subscriber: it fell too far behind to be kept up.
                guard !Task.isCancelled else { return }
                try await send(["type": "sync_required", "revision": .null, "epoch": .int(Int(clamping: feeds.epoch))])
            }
            group.addTask {
                for try await message in inbound.messages(maxSize: 64 << 10) {
                    guard case .text(let text) = message,
                          let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                        try await send(error("invalid_argument", "a client event is a JSON object with a type"))
                        continue
                    }
                    switch ChatEvents.request(for: object, conversation: conversation) {
                    case .success(let request):
                        let response = await self.handle(request)
                        if !response.ok {
                            try await send(error(response.error?.code ?? "internal_error", response.error?.message ?? "refused"))
                        }
                    case .failure(let refusal):
                        try await send(error("invalid_argument", refusal.message))
                    }
                }
            }
            // The client closed (or a write failed): stop following the node.
            try await group.next()
            group.cancelAll()
        }
    }

    /// `GET /login?code=…`: a good, unused, unexpired code sets the session cookie and sends the
    /// browser to the page (with the conversation to open, if named); anything else is a 401.
    func login(_ request: Request) -> Response {
        let code = request.uri.queryParameters["code"].map(String.init) ?? ""
        let now = now()
        guard let nonce = access.nonce(ofLoginCode: code, now: now), logins.redeem(nonce, now: now) else {
            return Self.failure(.unauthorized, code: "unauthorized",
                                "this login address was used already or has expired: run streamingchat ui for a new one")
        }
        let conversation = request.uri.queryParameters["conversation"].map(String.init).flatMap { Hex.decode($0) }
        var headers = HTTPFields()
        headers[.location] = "/" + (conversation.map { "#conversation=" + Hex.encode($0) } ?? "")
        headers[.cacheControl] = "no-store"
        var response = Response(status: .seeOther, headers: headers)
        response.setCookie(Cookie(name: access.cookieName, value: access.sessionValue, maxAge: AccessKey.sessionLifetime, path: "/",
                                  httpOnly: true, sameSite: .strict))
        return response
    }

    /// Answers a control request as HTTP.
    func answer(_ request: ControlRequest) async -> Response {
        Self.response(await handle(request))
    }

    /// A control response as HTTP: 200 with the result, or the error with a status that fits its code.
    static func response(_ response: ControlResponse) -> Response {
        guard response.ok else {
            let code = response.error?.code ?? "internal_error"
            return failure(status(for: code), code: code, response.error?.message ?? "the node refused the request")
        }
        return json(.ok, response.result ?? .null)
    }

    /// The HTTP status of an error code.
    static func status(for code: String) -> HTTPResponse.Status {
        switch code {
        case "unknown_command", "missing_argument", "invalid_argument", "invalid_token": .badRequest
        case "unauthorized": .unauthorized
        case "not_permitted": .forbidden
        case "unknown_conversation", "unknown_message": .notFound
        case "rate_limited": .tooManyRequests
        case "timed_out": .gatewayTimeout
        case "internal_error": .internalServerError
        default: .conflict
        }
    }

    static func failure(_ status: HTTPResponse.Status, code: String, _ message: String) -> Response {
        json(status, ["ok": false, "error": ["code": .string(code), "message": .string(message)]])
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        let text = (try? value.jsonString(pretty: false)) ?? "null"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A JSON object body's fields (empty when there is no body).
    static func fields(of request: Request) async throws -> [String: Any] {
        var request = request
        let body = try await request.collectBody(upTo: maxBodyBytes)
        guard body.readableBytes > 0 else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }

    /// A file of the browser UI, from the module's resources.
    static func asset(_ name: String, type: String) -> Response {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Web"),
              let data = try? Data(contentsOf: url) else {
            return Response(status: .notFound)
        }
        var headers = HTTPFields()
        headers[.contentType] = type + "; charset=utf-8"
        // No other page may frame this one (clickjacking the admin controls).
        headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"
        headers[.init("X-Frame-Options")!] = "DENY"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Lets through only requests that carry the node's key as a bearer token, or its session
/// cookie from the node's own origin (compared in constant time).
struct KeyCheck<Context: RequestContext>: RouterMiddleware {
    let access: AccessKey

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isAuthorized(request, access: access, keyInQuery: false) else {
            return ChatHTTPServer.failure(.unauthorized, code: "unauthorized",
                                          "this API needs the node's key: streamingchat ui prints an address that logs in")
        }
        // A cookie rides along with any request the browser makes, so a write authorised by it
        // must come from this origin (SameSite=Strict says the same; this does not rely on it).
        if bearer(request) == nil, ![.get, .head].contains(request.method), !Self.isSameOrigin(request, required: true) {
            return ChatHTTPServer.failure(.forbidden, code: "forbidden_origin", "a write with the session cookie must come from this page")
        }
        return try await next(request, context)
    }

    /// True when the request carries the key (as a bearer token, or with `keyInQuery` as `?key=`)
    /// or the session cookie.
    static func isAuthorized(_ request: Request, access: AccessKey, keyInQuery: Bool) -> Bool {
        let key = Array(access.key.utf8)
        if let given = bearer(request) ?? (keyInQuery ? request.uri.queryParameters["key"].map(String.init) : nil) {
            return constantTimeEqual(Array(given.utf8), key)
        }
        guard let cookie = request.cookies[access.cookieName]?.value else { return false }
        return constantTimeEqual(Array(cookie.utf8), Array(access.sessionValue.utf8))
    }

    /// True when the request's `Origin` names this server (its `Host`), or there is none and one
    /// is not `required` (apps other than browsers send none).
    static func isSameOrigin(_ request: Request, required: Bool = false) -> Bool {
        guard let origin = request.headers[.origin] else { return !required }
        guard let host = request.head.authority else { return false }
        return origin == "http://" + host
    }
}

/// The bearer token of a request, if any.
private func bearer(_ request: Request) -> String? {
    request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
}
