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
/// Every `/api/…` request carries the secret as `Authorization: Bearer <key>`; anything else is
/// answered `401 unauthorized`. Errors carry the
/// CLI's codes: `{"ok":false,"error":{"code","message"}}` with a matching HTTP status.
///
/// | method and path | command |
/// |---|---|
/// | `POST /api/command` | any control request, `{"command","arguments"}` (the control socket's format) |
/// | `GET /api/status` | `status` |
/// | `GET /api/conversations`, `POST` `{"title","public"}` | `conversations`, `create` |
/// | `GET /api/conversations/:id/state?after=&wait=` | `chat-state` (a long poll with `after`) |
/// | `GET /api/conversations/:id/messages`, `POST` `{"text"}` | `log`, `send` |
/// | `PATCH /api/conversations/:id/messages/:message` `{"text"}`, `DELETE` | `edit`, `delete` |
/// | `GET /api/conversations/:id/members` | `members` |
/// | `GET /api/conversations/:id/requests` | `requests` |
/// | `GET /api/conversations/:id/audit[?format=csv]` | `audit` (CSV as a download) |
/// | `GET /api/conversations/:id/events?key=…[&since=ms][&revision=r]` (WebSocket) | the event stream (see ``ChatEvents``) |
public struct ChatHTTPServer: Sendable {
    /// Answers one control request (the daemon's, with its write gate).
    public typealias Handler = @Sendable (ControlRequest) async -> ControlResponse

    let key: String
    let handle: Handler

    /// The largest request body read.
    static let maxBodyBytes = 1 << 20

    public init(key: String, handle: @escaping Handler) {
        self.key = key
        self.handle = handle
    }

    /// Serves on `host:port` (port 0: any free port) until the task is cancelled; `running` gets
    /// the bound port once the server listens.
    public func run(host: String, port: Int, running: @escaping @Sendable (Int) async -> Void) async throws {
        // Quiet: the daemon prints its own ready line; problems still show.
        var logger = Logger(label: "streamingchat.http")
        logger.logLevel = .warning
        let app = Application(
            router: router(), server: .http1WebSocketUpgrade(webSocketRouter: webSocketRouter()),
            configuration: .init(address: .hostname(host, port: port), serverName: "streamingchat"),
            onServerRunning: { channel in await running(channel.localAddress?.port ?? port) }, logger: logger)
        try await app.run()
    }

    /// The routes.
    func router() -> Router<BasicRequestContext> {
        let router = Router()
        for (path, type) in [("/", "text/html"), ("/index.html", "text/html"), ("/app.js", "text/javascript"),
                             ("/style.css", "text/css")] {
            router.get(RouterPath(path)) { _, _ in Self.asset(path == "/" ? "index.html" : String(path.dropFirst()), type: type) }
        }
        let api = router.group("api").add(middleware: KeyCheck(key: key))
        api.post("command") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: Self.maxBodyBytes)
            guard let control = try? JSONDecoder().decode(ControlRequest.self, from: Data(buffer: body)) else {
                return Self.failure(.badRequest, code: "invalid_argument", "the body is not a control request {\"command\",\"arguments\"}")
            }
            return await self.answer(control)
        }
        api.get("status") { _, _ in await self.answer(ControlCommand.status.request) }
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
            let command = ControlCommand.audit(conversation: try context.parameters.require("id"),
                                               query: ControlCommand.AuditQuery(csv: csv))
            let response = await self.handle(command.request)
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
        router.ws("api/conversations/:id/events", shouldUpgrade: { [key] request, _ in
            let given = request.uri.queryParameters["key"].map(String.init)
                ?? request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard let given, KeyCheck<BasicWebSocketRequestContext>.equal(Array(given.utf8), Array(key.utf8)) else {
                return .dontUpgrade
            }
            return .upgrade([:])
        }) { inbound, outbound, context in
            let conversation = context.requestContext.parameters.get("id") ?? ""
            let since = context.request.uri.queryParameters["since"].flatMap { UInt64(String($0)) }
            let revision = context.request.uri.queryParameters["revision"].flatMap { UInt64(String($0)) }
            try await self.stream(conversation, since: since, revision: revision, inbound: inbound, outbound: outbound)
        }
        return router
    }

    /// One client's event stream: the whole state first (and, with `since`, every message posted
    /// after that time again as `message_received`), then events as the node changes; client
    /// events are carried out as the CLI's commands, and a refused one comes back as `error`.
    func stream(_ conversation: String, since: UInt64?, revision: UInt64?, inbound: WebSocketInboundStream,
                outbound: WebSocketOutboundWriter) async throws {
        func send(_ value: JSONValue) async throws { try await outbound.write(.text((try? value.jsonString(pretty: false)) ?? "null")) }
        func error(_ code: String, _ message: String) -> JSONValue {
            ["type": "error", "code": .string(code), "message": .string(message)]
        }
        let first = await handle(ControlRequest(command: "chat-state", arguments: ["conversation": conversation]))
        guard first.ok, let value = first.result, let opening = try? value.decoded(as: ChatState.self) else {
            try await send(error(first.error?.code ?? "internal_error", first.error?.message ?? "no chat state"))
            return
        }
        try await send(["type": "state", "revision": .int(Int(clamping: opening.revision)), "state": value])
        // A client resuming from another revision missed events this stream cannot replay one by
        // one: it is told to take the state above as the truth.
        if let revision, revision != opening.revision {
            try await send(["type": "sync_required", "revision": .int(Int(clamping: opening.revision)),
                            "since": .int(Int(clamping: revision))])
        }
        if let since {
            for message in opening.messages where message.postedAt > since {
                try await send(["type": "message_received", "revision": .int(Int(clamping: opening.revision)),
                                "message": (try? JSONValue(encoding: message)) ?? .null])
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var state = opening
                while !Task.isCancelled {
                    let next = await self.handle(ControlRequest(command: "chat-state", arguments: [
                        "conversation": conversation, "after": String(state.revision), "wait": "10000"]))
                    guard next.ok, let decoded = try? next.result?.decoded(as: ChatState.self) else {
                        try await send(error(next.error?.code ?? "internal_error", next.error?.message ?? "no chat state"))
                        try await Task.sleep(for: .seconds(1))
                        continue
                    }
                    for event in ChatEvents.between(state, decoded) { try await send(event) }
                    state = decoded
                }
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
        headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; style-src 'self'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Lets through only requests that carry the node's access key (compared in constant time).
struct KeyCheck<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let given = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let given, Self.equal(Array(given.utf8), Array(key.utf8)) else {
            return ChatHTTPServer.failure(.unauthorized, code: "unauthorized",
                                          "this API needs the node's key: streamingchat ui prints the address with it")
        }
        return try await next(request, context)
    }

    /// Equal in time that depends only on the lengths.
    static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
