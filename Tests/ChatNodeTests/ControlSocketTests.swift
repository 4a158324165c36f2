import ChatControl
import ChatNode
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The control socket's transport: JSON lines over a Unix socket, owner-only, with a generic handler.
@Suite struct ControlSocketTests {
    /// A fresh private directory with a short path (Unix socket paths must stay under ~104 bytes).
    static func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
        let name = "cs-" + String(UUID().uuidString.prefix(8))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(directory)
    }

    /// Echoes the command and its arguments back as the result.
    static let echo: ControlServer.Handler = { request in
        .success(["command": .string(request.command), "list": .array(request.list.map { .string($0) })])
    }

    @Test func severalRequestsOnOneConnectionAreAnsweredInOrder() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path, handler: Self.echo)
            try await RawConnection.with(path: path) { connection in
                for index in 0..<5 {
                    try await connection.send(#"{"command":"c\#(index)","list":["\#(index)"]}"#)
                }
                for index in 0..<5 {
                    let response = try #require(try await connection.readResponse())
                    #expect(response == .success(["command": .string("c\(index)"), "list": [.string("\(index)")]]))
                }
            }
            await server.close()
        }
    }

    @Test func clientRoundTrip() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path) { request in
                .success(["arguments": .object(request.arguments.mapValues { .string($0) }), "pi": 3.5, "n": nil])
            }
            let response = try await ControlClient.send(
                ControlRequest(command: "status", arguments: ["b": "2", "a": "1"]), socketPath: path,
                timeout: .seconds(10))
            #expect(response.ok)
            let result = try #require(response.result)
            #expect(result == ["arguments": ["a": "1", "b": "2"], "pi": 3.5, "n": nil])
            #expect(try result.jsonString(pretty: false) == #"{"arguments":{"a":"1","b":"2"},"n":null,"pi":3.5}"#)
            await server.close()
        }
    }

    @Test func clientTimesOutWhenTheNodeDoesNotAnswer() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let (never, neverEnds) = AsyncStream<Void>.makeStream()
            let server = try await ControlServer.start(socketPath: path) { _ in
                for await _ in never {}
                return .success()
            }
            do throws(ControlSocketError) {
                _ = try await ControlClient.send(
                    ControlRequest(command: "x"), socketPath: path, timeout: .seconds(5), clock: ImmediateClock())
                Issue.record("a handler that never answers answered")
            } catch {
                #expect(error == .timedOut(.seconds(5)))
            }
            // Closing must not wait for the handler: it is cancelled with its connection.
            await server.close()
            neverEnds.finish()
        }
    }

    @Test func socketFileIsOwnerOnly() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path, handler: Self.echo)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect(attributes[.type] as? FileAttributeType == .typeSocket)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            await server.close()
        }
    }

    @Test func groupWritableDirectoryIsRefused() async throws {
        try await Self.withTemporaryDirectory { directory in
            try FileManager.default.setAttributes([.posixPermissions: 0o770], ofItemAtPath: directory)
            do throws(ControlSocketError) {
                let server = try await ControlServer.start(socketPath: directory + "/control.sock", handler: Self.echo)
                await server.close()
                Issue.record("a group-writable directory was accepted")
            } catch {
                #expect(error.code == "insecure_directory")
            }
        }
    }

    @Test func oversizedRequestIsRejectedAndTheConnectionClosed() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path, handler: Self.echo)
            try await RawConnection.with(path: path) { connection in
                let padding = String(repeating: "x", count: ControlServer.maximumRequestBytes)
                try? await connection.send(#"{"command":"\#(padding)"}"#)
                let response = try #require(try await connection.readResponse())
                #expect(response.ok == false)
                #expect(response.error?.code == "request_too_large")
                let after = try? await connection.readResponse()
                #expect(after == nil)
            }
            await server.close()
        }
    }

    @Test func malformedRequestIsAnsweredAndTheConnectionStaysUsable() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path, handler: Self.echo)
            try await RawConnection.with(path: path) { connection in
                try await connection.send("{not json")
                try await connection.send(#"{"list":["no command"]}"#)
                try await connection.send(#"{"command":"ok"}"#)
                let first = try #require(try await connection.readResponse())
                let second = try #require(try await connection.readResponse())
                let third = try #require(try await connection.readResponse())
                #expect(first.error?.code == "malformed_request")
                #expect(second.error?.code == "malformed_request")
                #expect(third == .success(["command": "ok", "list": []]))
            }
            await server.close()
        }
    }

    @Test func connectionsBeyondTheLimitAreTurnedAwayBusy() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path, maximumConnections: 1, handler: Self.echo)
            try await RawConnection.with(path: path) { held in
                try await held.send(#"{"command":"hold"}"#)
                _ = try await held.readResponse()
                let response = try await ControlClient.send(
                    ControlRequest(command: "x"), socketPath: path, timeout: .seconds(10))
                #expect(response.error?.code == "busy")
            }
            await server.close()
        }
    }

    @Test func clientWithoutServerReportsNotRunning() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            do throws(ControlSocketError) {
                _ = try await ControlClient.send(ControlRequest(command: "x"), socketPath: path, timeout: .seconds(10))
                Issue.record("a missing socket answered")
            } catch {
                #expect(error == .notRunning(path))
                #expect(error.description.contains("streamingchat serve --data \(directory)"))
            }
        }
    }

    @Test func clientAgainstStaleSocketReportsNotRunningAndServerReplacesIt() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            // A socket file nobody accepts on: bound, then the listener closed without unlinking.
            let stale = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(unixDomainSocketPath: path).get()
            try await stale.close()
            do throws(ControlSocketError) {
                _ = try await ControlClient.send(ControlRequest(command: "x"), socketPath: path, timeout: .seconds(10))
                Issue.record("a stale socket answered")
            } catch {
                #expect(error == .notRunning(path))
            }
            let server = try await ControlServer.start(socketPath: path, handler: Self.echo)
            let response = try await ControlClient.send(ControlRequest(command: "y"), socketPath: path, timeout: .seconds(10))
            #expect(response.ok)
            await server.close()
        }
    }

    @Test func secondServerOnALiveSocketIsRefused() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path, handler: Self.echo)
            do throws(ControlSocketError) {
                let second = try await ControlServer.start(socketPath: path, handler: Self.echo)
                await second.close()
                Issue.record("a second server started on a live socket")
            } catch {
                #expect(error == .alreadyRunning(path))
            }
            await server.close()
        }
    }

    @Test func closeRemovesTheSocketFile() async throws {
        try await Self.withTemporaryDirectory { directory in
            let path = directory + "/control.sock"
            let server = try await ControlServer.start(socketPath: path, handler: Self.echo)
            #expect(FileManager.default.fileExists(atPath: path))
            await server.close()
            #expect(!FileManager.default.fileExists(atPath: path))
            await server.close()
        }
    }

    @Test func anyEncodableBecomesJSON() throws {
        struct Status: Encodable {
            var name: String
            var peers: [Int]
            var ratio: Double
            var online: Bool
            var note: String?
        }
        let value = try JSONValue(encoding: Status(name: "n", peers: [1, 2], ratio: 0.25, online: true, note: nil))
        #expect(value == ["name": "n", "peers": [1, 2], "ratio": 0.25, "online": true])
        let text = try value.jsonString(pretty: false)
        #expect(text == #"{"name":"n","online":true,"peers":[1,2],"ratio":0.25}"#)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) == value)
    }
}

/// A clock whose sleeps end at once, so a timeout fires without waiting.
private struct ImmediateClock: Clock {
    typealias Instant = ContinuousClock.Instant
    var now: Instant { ContinuousClock.now }
    var minimumResolution: Duration { .zero }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {}
}

/// A raw line-level connection to a control socket, for sending bytes the client never would.
private struct RawConnection {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending: [UInt8] = []

    /// Connects to `path`, runs `body` with the connection, then closes it.
    static func with<R: Sendable>(path: String, _ body: (inout RawConnection) async throws -> R) async throws -> R {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = RawConnection(iterator: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    /// Sends `line` and a newline.
    func send(_ line: String) async throws {
        try await outbound.write(ByteBuffer(string: line + "\n"))
    }

    /// The next response line, or `nil` at end of stream.
    mutating func readResponse() async throws -> ControlResponse? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return try JSONDecoder().decode(ControlResponse.self, from: Data(line))
            }
            guard let buffer = try await iterator.next() else { return nil }
            pending.append(contentsOf: buffer.readableBytesView)
        }
    }
}
