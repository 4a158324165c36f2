import ChatControl
import NIOCore

/// A listening socket that serves every connection it accepts in a task of its own, until it is
/// closed. ``finished()`` returns once the accept loop and every connection it served have ended.
///
/// A connection accepted while the listener closes is closed, never dropped (NIO traps on a
/// dropped unclosed one; see ``AcceptedConnections``).
struct PeerListener: Sendable {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// Where it listens (the port the system chose, when asked for port 0).
    let endpoint: PeerEndpoint
    private let channel: any Channel
    private let task: Task<Void, Never>

    /// Binds `endpoint` and starts accepting; `serve` runs each connection to its end (it must
    /// run or refuse it with `executeThenClose`).
    static func start(on endpoint: PeerEndpoint, serve: @escaping @Sendable (Connection) async -> Void) async throws -> PeerListener {
        let accepted = AcceptedConnections()
        let server = try await PeerConnection.listen(host: endpoint.host, port: endpoint.port, accepted: accepted)
        let channel = server.channel
        let task = Task {
            await withTaskCancellationHandler {
                await withDiscardingTaskGroup { group in
                    try? await server.executeThenClose { connections in
                        for try await connection in connections {
                            accepted.take(connection)
                            group.addTask { await serve(connection) }
                        }
                    }
                    // Accepted as the listener closed, never delivered: closed here, not dropped.
                    await accepted.closeRemaining()
                }
            } onCancel: {
                channel.close(promise: nil)
            }
        }
        return PeerListener(endpoint: PeerEndpoint(host: endpoint.host, port: channel.localAddress?.port ?? endpoint.port),
                            channel: channel, task: task)
    }

    /// Stops accepting; connections being served go on.
    func close() {
        channel.close(promise: nil)
    }

    /// Returns once the accept loop and every connection it served have ended.
    func finished() async {
        await task.value
    }
}

extension PeerConnection {
    /// Closes a connection nobody will serve. An `NIOAsyncChannel` must be closed through
    /// `executeThenClose` (dropping it unused traps in NIO).
    static func refuse(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await connection.executeThenClose { _, _ in }
    }
}
