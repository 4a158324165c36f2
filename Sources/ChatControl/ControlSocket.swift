import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the control socket could not be served or reached. Stable `code`s.
public enum ControlSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No node is listening on this socket path (no file, or nobody accepting).
    case notRunning(String)
    /// Another node already accepts connections on this socket path.
    case alreadyRunning(String)
    /// The directory holding the socket is not private to this user, so the socket would not be either.
    case insecureDirectory(path: String, reason: String)
    /// The socket path does not fit in a `sockaddr_un` (about 104–108 bytes).
    case pathTooLong(String)
    /// No response arrived within the timeout.
    case timedOut(Duration)
    /// The node closed the connection without answering.
    case connectionClosed
    /// The node's response line exceeded ``ControlClient/maximumResponseBytes``.
    case responseTooLarge
    /// The node's response is not a ``ControlResponse``.
    case malformedResponse(String)
    /// Any other system or I/O failure, described.
    case io(String)

    /// Stable, machine-readable.
    public var code: String {
        switch self {
        case .notRunning: "not_running"
        case .alreadyRunning: "already_running"
        case .insecureDirectory: "insecure_directory"
        case .pathTooLong: "path_too_long"
        case .timedOut: "timed_out"
        case .connectionClosed: "connection_closed"
        case .responseTooLarge: "response_too_large"
        case .malformedResponse: "malformed_response"
        case .io: "io"
        }
    }

    /// A sentence for a person.
    public var description: String {
        switch self {
        case .notRunning(let path):
            let directory = Self.directory(of: path)
            return "no node is running for \(directory): start one with `streamingchat serve --data \(directory)`"
        case .alreadyRunning(let path):
            return "a node is already running for \(Self.directory(of: path)) (socket \(path))"
        case .insecureDirectory(let path, let reason):
            return "refusing to put the control socket in \(path): \(reason)"
        case .pathTooLong(let path):
            return "the control socket path is too long for a Unix socket (\(path.utf8.count) bytes): \(path)"
        case .timedOut(let timeout):
            return "the node did not answer within \(timeout)"
        case .connectionClosed:
            return "the node closed the control connection without answering"
        case .responseTooLarge:
            return "the node's answer is larger than \(ControlClient.maximumResponseBytes) bytes"
        case .malformedResponse(let reason):
            return "the node's answer is not a control response: \(reason)"
        case .io(let reason):
            return "control socket: \(reason)"
        }
    }

    /// The directory part of `path` (`.` when it has none).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// The node's owner-only control socket: JSON lines over a Unix domain socket, each request answered
/// by `handler` with one response line, in order.
///
/// Protocol: each request is one ``ControlRequest`` JSON object on one UTF-8 line of at most
/// ``maximumRequestBytes`` bytes; each gets exactly one ``ControlResponse`` line. A connection may send
/// any number of requests. A malformed line is answered with `malformed_request` and the connection stays
/// usable; an oversized line is answered with `request_too_large` and the connection is closed. Beyond
/// `maximumConnections` concurrent connections, a new one is answered with `busy` and closed.
///
/// Owner-only: ``start(socketPath:maximumConnections:handler:)`` refuses a directory that is not owned by
/// the current user or is group- or world-writable, and sets the socket file to mode 0600, so only this
/// user (and root) can connect. The peer's uid is not checked: NIO's socket options carry `Int32` values,
/// not `struct ucred`, so `SO_PEERCRED` is out of reach without the raw descriptor. Between `bind` and
/// `chmod` the socket briefly has the umask's mode; a data directory of mode 0700 closes that window.
public final class ControlServer: Sendable {
    /// The handler's signature: one request in, one response out.
    public typealias Handler = @Sendable (ControlRequest) async -> ControlResponse

    /// The longest request line accepted, not counting its newline: 1 MiB.
    public static let maximumRequestBytes = 1 << 20
    /// The default bound on concurrent connections.
    public static let defaultMaximumConnections = 64

    /// Where the socket file is.
    public let socketPath: String

    private let listener: NIOAsyncChannel<any Channel, Never>
    private let connections: ConnectionRegistry
    private let acceptLoop: Task<Void, Never>
    private let closed = Mutex(false)

    private init(
        socketPath: String, listener: NIOAsyncChannel<any Channel, Never>, connections: ConnectionRegistry,
        acceptLoop: Task<Void, Never>
    ) {
        self.socketPath = socketPath
        self.listener = listener
        self.connections = connections
        self.acceptLoop = acceptLoop
    }

    /// Checks the directory, binds `socketPath`, makes it mode 0600 and starts answering requests with
    /// `handler`. A stale socket file (nobody accepting) is replaced; a live one is
    /// ``ControlSocketError/alreadyRunning(_:)``. Call ``close()`` to stop.
    public static func start(
        socketPath: String, maximumConnections: Int = defaultMaximumConnections, handler: @escaping Handler
    ) async throws(ControlSocketError) -> ControlServer {
        try checkDirectory(ControlSocketError.directory(of: socketPath))
        if FileManager.default.fileExists(atPath: socketPath), await isAccepting(socketPath: socketPath) {
            throw .alreadyRunning(socketPath)
        }
        let connections = ConnectionRegistry()
        let listener: NIOAsyncChannel<any Channel, Never>
        do {
            // Accepted connections are handed over as plain channels, not yet reading: a
            // `NIOAsyncChannel` made here traps if it is dropped unserved, which happens to connections
            // still queued when the accept loop stops (swift-nio#2637). Each is wrapped by the task that
            // serves it, and every one is registered so `close()` can close those never served.
            listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelOption(.autoRead, value: false)
                .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true) { channel in
                    if !connections.register(channel) { channel.close(promise: nil) }
                    return channel.eventLoop.makeSucceededFuture(channel)
                }
        } catch SocketAddressError.unixDomainSocketPathTooLong {
            throw .pathTooLong(socketPath)
        } catch {
            throw .io("cannot listen on \(socketPath): \(error)")
        }
        guard chmod(socketPath, 0o600) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await listener.channel.close()
            throw .io("cannot make \(socketPath) owner-only: \(reason)")
        }
        let slots = ConnectionSlots(limit: max(1, maximumConnections))
        let acceptLoop = Task {
            await acceptConnections(listener, slots: slots, handler: handler)
        }
        return ControlServer(
            socketPath: socketPath, listener: listener, connections: connections, acceptLoop: acceptLoop)
    }

    /// Stops listening, closes every connection (cancelling handlers still running) and removes the
    /// socket file. Idempotent.
    public func close() async {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if first {
            connections.closeAll()
            listener.channel.close(promise: nil)
            acceptLoop.cancel()
        }
        await acceptLoop.value
        guard first else { return }
        if (try? FileManager.default.attributesOfItem(atPath: socketPath)[.type] as? FileAttributeType)
            == .typeSocket
        {
            try? FileManager.default.removeItem(atPath: socketPath)
        }
    }

    /// Refuses a directory that another user owns or others may write to (the daemon checks its
    /// data directory before it writes its identity key there).
    public static func checkDirectory(_ directory: String) throws(ControlSocketError) {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw .insecureDirectory(path: directory, reason: String(cString: strerror(errno)))
        }
        guard info.st_uid == getuid() else {
            throw .insecureDirectory(path: directory, reason: "it is owned by uid \(info.st_uid), not by uid \(getuid())")
        }
        guard info.st_mode & 0o022 == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw .insecureDirectory(path: directory, reason: "group or others may write to it (mode \(mode)); chmod 700 it")
        }
    }

    /// Whether something accepts connections on `socketPath` right now.
    private static func isAccepting(socketPath: String) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socketPath).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }

    /// Serves each accepted connection in a child task until the listener closes or the task is cancelled.
    private static func acceptConnections(
        _ listener: NIOAsyncChannel<any Channel, Never>, slots: ConnectionSlots, handler: @escaping Handler
    ) async {
        try? await listener.executeThenClose { accepted in
            try await withThrowingDiscardingTaskGroup { group in
                for try await channel in accepted {
                    if slots.acquire() {
                        group.addTask {
                            defer { slots.release() }
                            await serve(channel, handler: handler)
                        }
                    } else {
                        group.addTask { await refuseBusy(channel) }
                    }
                }
            }
        }
    }

    /// Answers each request line on `channel` in order until it closes or sends an oversized line.
    private static func serve(_ channel: any Channel, handler: Handler) async {
        let connection: NIOAsyncChannel<ControlLine, ByteBuffer>
        do {
            connection = try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(ControlLineDecoder(maximumLineBytes: maximumRequestBytes)))
                let wrapped = try NIOAsyncChannel<ControlLine, ByteBuffer>(wrappingChannelSynchronously: channel)
                // Nothing may throw after wrapping: an unserved wrapper traps. If the channel closed
                // meanwhile, the inbound stream below simply ends.
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                return wrapped
            }.get()
        } catch {
            channel.close(promise: nil)
            return
        }
        // Responses go through `channel.writeAndFlush`, which completes once the bytes reach the
        // socket; the outbound writer's `write` does not wait, so a close right after it could drop
        // the last response (swift-nio#2795).
        try? await connection.executeThenClose { inbound, _ in
            for try await line in inbound {
                switch line {
                case .tooLong:
                    let response = ControlResponse.failure(
                        code: ControlErrorBody.Code.requestTooLarge,
                        message: "a request line may be at most \(maximumRequestBytes) bytes; closing the connection")
                    try await channel.writeAndFlush(ByteBuffer(bytes: ControlCoding.responseLine(response)))
                    return
                case .line(let bytes):
                    let response: ControlResponse
                    do {
                        let request = try ControlCoding.decode(ControlRequest.self, from: bytes)
                        response = await handler(request)
                    } catch {
                        response = .failure(
                            code: ControlErrorBody.Code.malformedRequest,
                            message: "expected one JSON object per line with a string \"command\": \(error)")
                    }
                    try await channel.writeAndFlush(ByteBuffer(bytes: ControlCoding.responseLine(response)))
                }
            }
        }
    }

    /// Tells a connection over the limit to come back later, and closes it.
    private static func refuseBusy(_ channel: any Channel) async {
        let response = ControlResponse.failure(
            code: ControlErrorBody.Code.busy, message: "the node has too many open control connections; try again")
        try? await channel.writeAndFlush(ByteBuffer(bytes: ControlCoding.responseLine(response)))
        try? await channel.close()
    }
}

/// A counting bound on concurrent connections.
private final class ConnectionSlots: Sendable {
    private let limit: Int
    private let inUse = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a slot if one is free.
    func acquire() -> Bool {
        inUse.withLock { inUse in
            guard inUse < limit else { return false }
            inUse += 1
            return true
        }
    }

    /// Gives a slot back.
    func release() {
        inUse.withLock { $0 -= 1 }
    }
}

/// Every open connection of one server, so closing the server closes them all — including those
/// accepted but never handed to the accept loop.
private final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// Records a newly accepted connection until it closes; `false` once the server is closing
    /// (the caller closes the connection).
    func register(_ channel: any Channel) -> Bool {
        let key = ObjectIdentifier(channel)
        let registered = state.withLock { state in
            guard !state.closed else { return false }
            state.channels[key] = channel
            return true
        }
        if registered {
            channel.closeFuture.whenComplete { _ in
                self.state.withLock { state in state.channels[key] = nil }
            }
        }
        return registered
    }

    /// Refuses new connections and closes every open one.
    func closeAll() {
        let open = state.withLock { state in
            state.closed = true
            defer { state.channels = [:] }
            return Array(state.channels.values)
        }
        for channel in open { channel.close(promise: nil) }
    }
}

/// Sends requests to a running node's control socket.
public enum ControlClient {
    /// The longest response line accepted: 64 MiB.
    public static let maximumResponseBytes = 64 << 20

    /// Connects to `socketPath`, sends `request` and returns the node's response.
    ///
    /// Throws ``ControlSocketError/notRunning(_:)`` when nothing listens there and
    /// ``ControlSocketError/timedOut(_:)`` when no answer comes within `timeout` (counted on `clock`).
    public static func send(
        _ request: ControlRequest, socketPath: String, timeout: Duration,
        clock: any Clock<Duration> = ContinuousClock()
    ) async throws(ControlSocketError) -> ControlResponse {
        guard FileManager.default.fileExists(atPath: socketPath) else { throw .notRunning(socketPath) }
        do {
            return try await withThrowingTaskGroup(of: ControlResponse?.self) { group in
                group.addTask { try await exchange(request, socketPath: socketPath) }
                group.addTask {
                    try await clock.sleep(for: timeout)
                    return nil
                }
                guard let first = try await group.next(), let response = first else {
                    throw ControlSocketError.timedOut(timeout)
                }
                group.cancelAll()
                return response
            }
        } catch let error as ControlSocketError {
            throw error
        } catch let error as IOError where [ENOENT, ECONNREFUSED, ENOTDIR].contains(error.errnoCode) {
            throw .notRunning(socketPath)
        } catch SocketAddressError.unixDomainSocketPathTooLong {
            throw .pathTooLong(socketPath)
        } catch {
            throw .io("\(socketPath): \(error)")
        }
    }

    /// One connection, one request, one response.
    private static func exchange(_ request: ControlRequest, socketPath: String) async throws -> ControlResponse {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: socketPath) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(ControlLineDecoder(maximumLineBytes: maximumResponseBytes)))
                    return try NIOAsyncChannel<ControlLine, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let requestLine = try ControlCoding.line(request)
        return try await channel.executeThenClose { inbound, outbound in
            // A node that refuses the connection (`busy`) answers and closes without reading, so the
            // write may fail while its answer waits to be read: read regardless.
            try? await outbound.write(ByteBuffer(bytes: requestLine))
            for try await line in inbound {
                switch line {
                case .tooLong:
                    throw ControlSocketError.responseTooLarge
                case .line(let bytes):
                    do {
                        return try ControlCoding.decode(ControlResponse.self, from: bytes)
                    } catch {
                        throw ControlSocketError.malformedResponse("\(error)")
                    }
                }
            }
            throw ControlSocketError.connectionClosed
        }
    }
}
