import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import Foundation

/// What `bench sync` measured.
public struct SyncBenchmarkReport: Sendable, Codable, Equatable {
    /// Operations the lagging node lacked.
    public var ops: Int
    /// Signed batches they came in.
    public var batches: Int
    public var opsPerBatch: Int
    /// From dialing until the lagging node has stored and applied every operation.
    public var catchUpMs: Double
    /// `ops` / catch-up time.
    public var opsPerSecond: Double
    /// From a dropped connection (with `reconnectOps` written meanwhile) until the lagging node
    /// has redialled, re-authenticated and caught up again.
    public var reconnectMs: Double
    public var reconnectOps: Int
    /// Cores used for signature checks.
    public var cores: Int
}

/// Two real nodes on loopback: one holds a generated conversation (``IngestBenchmark``'s
/// workload), the other — a member with an empty store — dials it and catches up. Then the
/// connection is dropped while the first node writes, and the time to redial and resync is
/// measured too.
public enum SyncBenchmark {
    public static func run(ops: Int, opsPerBatch: Int, reconnectOps: Int = 10, directory: String) async throws -> SyncBenchmarkReport {
        let holderDirectory = directory + "/holder"
        let laggingDirectory = directory + "/lagging"
        try FileManager.default.createDirectory(atPath: laggingDirectory, withIntermediateDirectories: true)
        let workload = IngestBenchmark.Configuration(opsPerBatch: opsPerBatch, authors: 2, totalOps: ops)
        let ingest = try await IngestBenchmark.run(workload, directory: holderDirectory)
        guard ingest.rejected == 0 else { throw NodeError.inconsistentStore("the generated workload was rejected") }
        // The workload's authors sign with seeds 1 (the creator) and 2 (a member).
        let holderKey = try SigningKey(seed: Array(repeating: 1, count: 32))
        let laggingKey = try SigningKey(seed: Array(repeating: 2, count: 32))
        let replication = ReplicationConfiguration()
        let holder = try Node(configuration: NodeConfiguration(identity: holderKey, dataDirectory: holderDirectory,
                                                               replication: replication, seed: 1))
        let lagging = try Node(configuration: NodeConfiguration(identity: laggingKey, dataDirectory: laggingDirectory,
                                                                listen: nil, replication: replication, seed: 2))
        try await holder.start()
        try await lagging.start()
        guard let conversation = await holder.conversations.first, let address = await holder.listeningOn else {
            throw NodeError.inconsistentStore("the holder has no conversation or address")
        }
        try await lagging.commands.follow(conversation)
        let holderReplica = try await holder.replica(conversation)
        let laggingReplica = try await lagging.replica(conversation)
        let target = await holderReplica.clock
        let clock = ContinuousClock()

        let start = clock.now
        await lagging.connect(to: address)
        try await waitUntil(laggingReplica, covers: target, timeout: .seconds(120))
        let catchUp = clock.now - start

        // Drop the connection, write while it is down, and time the recovery.
        let dropped = clock.now
        await lagging.dropSessions()
        for index in 0 ..< reconnectOps {
            _ = try await holder.commands.post("written while the connection was down \(index)", to: conversation)
        }
        let after = await holderReplica.clock
        try await waitUntil(laggingReplica, covers: after, timeout: .seconds(30))
        let reconnect = clock.now - dropped

        await lagging.stop()
        await holder.stop()
        let catchUpMs = IngestBenchmark.milliseconds(catchUp)
        return SyncBenchmarkReport(
            ops: ingest.ops, batches: ingest.batches, opsPerBatch: opsPerBatch, catchUpMs: (catchUpMs * 1000).rounded() / 1000,
            opsPerSecond: (Double(ingest.ops) / max(catchUpMs / 1000, 1e-9)).rounded(),
            reconnectMs: (IngestBenchmark.milliseconds(reconnect) * 1000).rounded() / 1000, reconnectOps: reconnectOps,
            cores: authenticationWorkers)
    }

    /// Polls (every 200 µs) until `replica` holds everything in `clock`.
    static func waitUntil(_ replica: ConversationReplica, covers clock: VectorClock, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while !clock.isCovered(by: await replica.clock) {
            guard ContinuousClock.now < deadline else { throw NodeCommandError.timedOut("catch-up") }
            try await Task.sleep(for: .microseconds(200))
        }
    }
}
