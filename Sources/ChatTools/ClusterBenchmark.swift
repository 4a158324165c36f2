import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import Foundation
import Synchronization

/// What `bench cluster` measured: delivery latency of each message to every other node.
public struct ClusterBenchmarkReport: Sendable, Codable, Equatable {
    public var nodes: Int
    public var messages: Int
    /// Deliveries expected: messages × (nodes − 1).
    public var deliveries: Int
    public var p50Ms: Double
    public var p95Ms: Double
    public var p99Ms: Double
    public var maxMs: Double
    /// Deliveries that never happened within the deadline.
    public var lost: Int
    /// Messages a node reported more than once.
    public var duplicated: Int
    /// Sessions per node once the mesh settled (mean).
    public var meanPeers: Double
    /// Sessions that ended while the messages were sent (counted at both ends).
    public var sessionsClosedDuringRun: Int
    /// Time for every node to join and sync before the messages.
    public var setupMs: Double
}

/// N real nodes on loopback in one process, each with its own store and TCP listener. Node 0
/// creates the conversation; the others join by invite through a random earlier node and find the
/// rest by peer exchange. Then M messages are posted from random nodes (seeded), one every
/// `interval`, and each node's event stream timestamps their arrival.
public enum ClusterBenchmark {
    public static func run(nodes count: Int, messages: Int, interval: Duration = .milliseconds(50), seed: UInt64 = 7,
                           maxPeers: Int = 3, directory: String) async throws -> ClusterBenchmarkReport {
        var random = SeededGenerator(seed: seed)
        let clock = ContinuousClock()
        let setupStart = clock.now
        var nodes: [Node] = []
        for index in 0 ..< count {
            let key = try SigningKey(seed: Array(repeating: UInt8(truncatingIfNeeded: index + 1), count: 31) + [0xC1])
            let folder = directory + "/node\(index)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let node = try Node(configuration: NodeConfiguration(
                identity: key, dataDirectory: folder, replication: ReplicationConfiguration(antiEntropyInterval: .seconds(2)),
                seed: seed &+ UInt64(index), displayName: "node \(index)", maxPeers: maxPeers))
            nodes.append(node)
            do {
                try await node.start()
            } catch {
                for node in nodes { await node.stop() }
                throw error
            }
        }
        do {
            let report = try await measure(nodes, messages: messages, interval: interval, random: &random,
                                           setupStart: setupStart)
            for node in nodes { await node.stop() }
            return report
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
    }

    private static func measure(_ nodes: [Node], messages: Int, interval: Duration, random: inout SeededGenerator,
                                setupStart: ContinuousClock.Instant) async throws -> ClusterBenchmarkReport {
        let clock = ContinuousClock()
        let count = nodes.count
        let creator = nodes[0]
        let conversation = try await creator.commands.create(title: "cluster")
        try await creator.submit([.setSettings(ConversationSettings(messagesPerMinute: 1_000_000, maxMessageBytes: 16 * 1024,
                                                                     isPublic: false))], to: conversation)
        let token = try await creator.commands.invite(conversation, permission: .comment)
        for index in 1 ..< count {
            let via = Int.random(in: 0 ..< index, using: &random)
            guard let address = await nodes[via].listeningOn else { throw NodeCommandError.invalidArgument("no address") }
            _ = try await nodes[index].commands.join(token: token.bytes, via: address, timeout: .seconds(60))
        }
        // Let every node learn every member (and peer exchange settle).
        let deadline = clock.now + .seconds(60)
        for node in nodes {
            while try await node.commands.members(conversation).count < count {
                guard clock.now < deadline else { throw NodeCommandError.timedOut("members to sync") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let setup = clock.now - setupStart
        var peerCounts = 0
        var closedBefore = 0
        for node in nodes {
            let status = await node.commands.status()
            peerCounts += status.peers.count
            closedBefore += status.counters.sessionsClosed
        }

        // Arrival times by message, per node.
        let arrivals = Arrivals()
        var listeners: [Task<Void, Never>] = []
        for (index, node) in nodes.enumerated() {
            listeners.append(Task {
                for await event in node.events {
                    guard case .messageReceived(let target, let id) = event, target == conversation else { continue }
                    let now = ContinuousClock.now
                    arrivals.times.withLock { $0[id, default: [:]][index, default: []].append(now) }
                }
            })
        }
        var sent: [(id: OpID, author: Int, at: ContinuousClock.Instant)] = []
        for index in 0 ..< messages {
            let author = Int.random(in: 0 ..< count, using: &random)
            let at = clock.now
            let id = try await nodes[author].commands.post("message \(index) from node \(author)", to: conversation)
            sent.append((id, author, at))
            try await Task.sleep(for: interval)
        }
        // Wait for every delivery, or give up after a grace period.
        let expected = messages * (count - 1)
        let grace = clock.now + .seconds(10)
        func delivered() -> Int {
            arrivals.times.withLock { arrivals in
                sent.reduce(0) { total, message in
                    total + (arrivals[message.id]?.keys.filter { $0 != message.author }.count ?? 0)
                }
            }
        }
        while delivered() < expected, clock.now < grace { try await Task.sleep(for: .milliseconds(10)) }
        for listener in listeners { listener.cancel() }
        var closedAfter = 0
        for node in nodes { closedAfter += await node.commands.status().counters.sessionsClosed }

        var latencies: [Double] = []
        var duplicated = 0
        arrivals.times.withLock { arrivals in
            for message in sent {
                for (node, times) in arrivals[message.id] ?? [:] where node != message.author {
                    if let first = times.min() { latencies.append(IngestBenchmark.milliseconds(first - message.at)) }
                    if times.count > 1 { duplicated += 1 }
                }
            }
        }
        latencies.sort()
        func percentile(_ fraction: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let rank = min(latencies.count - 1, Int((fraction * Double(latencies.count)).rounded(.up)) - 1)
            return (latencies[max(0, rank)] * 1000).rounded() / 1000
        }
        return ClusterBenchmarkReport(
            nodes: count, messages: messages, deliveries: expected, p50Ms: percentile(0.50), p95Ms: percentile(0.95),
            p99Ms: percentile(0.99), maxMs: percentile(1.0), lost: expected - latencies.count, duplicated: duplicated,
            meanPeers: (Double(peerCounts) / Double(count) * 10).rounded() / 10,
            sessionsClosedDuringRun: closedAfter - closedBefore,
            setupMs: (IngestBenchmark.milliseconds(setup)).rounded())
    }
}

/// When each node saw each message: message → node index → arrival instants.
private final class Arrivals: Sendable {
    let times = Mutex<[OpID: [Int: [ContinuousClock.Instant]]]>([:])
}
