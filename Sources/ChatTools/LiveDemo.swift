import ChatControl
import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import Foundation

/// What the live demo ended with.
public struct LiveDemoReport: Sendable, Hashable {
    /// Messages every node shows.
    public var messages: Int
    /// From healing the partition until all three nodes showed the same conversation.
    public var convergeMs: Double
    /// The whole demo.
    public var totalMs: Double
    /// Whether all three nodes ended with identical logs.
    public var converged: Bool
}

/// Three real nodes on loopback, each with its own store in a temporary directory: Ana creates
/// a conversation and shares it, Ben and Cat join, everyone writes, Ben and Cat edit one of
/// Ana's messages at the same time, presence and typing travel by gossip, Cat is cut off and
/// writes while offline, and after the heal all three converge. `say` receives the narration.
public enum LiveDemo {
    /// - Parameter afterwards: given the three nodes (ana, ben, cat) and the conversation once the
    ///   narration is over; the nodes keep running until it returns (`demo --ui` serves their
    ///   browser UIs meanwhile).
    public static func run(seed: UInt64 = 2026, say: @escaping @Sendable (String) -> Void,
                           afterwards: (@Sendable ([Node], ConversationID) async -> Void)? = nil) async throws -> LiveDemoReport {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("streamingchat-demo-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let names = ["ana", "ben", "cat"]
        var nodes: [Node] = []
        for (index, name) in names.enumerated() {
            var seedBytes = Array(repeating: UInt8(index + 1), count: 24)
            withUnsafeBytes(of: seed.littleEndian) { seedBytes.append(contentsOf: $0) }
            let configuration = NodeConfiguration(
                identity: try SigningKey(seed: seedBytes), dataDirectory: root + "/" + name,
                replication: ReplicationConfiguration(antiEntropyInterval: .milliseconds(500)),
                seed: seed &+ UInt64(index), displayName: name)
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            nodes.append(try Node(configuration: configuration))
        }
        do {
            let (report, conversation) = try await narrate(nodes, names: names, say: say)
            if let afterwards { await afterwards(nodes, conversation) }
            for node in nodes { await node.stop() }
            return report
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
    }

    private static func narrate(_ nodes: [Node], names: [String],
                                say: @Sendable (String) -> Void) async throws -> (LiveDemoReport, ConversationID) {
        let clock = ContinuousClock()
        let started = clock.now
        let (ana, ben, cat) = (nodes[0], nodes[1], nodes[2])
        for (node, name) in zip(nodes, names) {
            try await node.start()
            say("\(name): node \(node.identity.publicKey.text.prefix(14))… listening on \(await node.listeningOn?.description ?? "-")")
        }
        guard let address = await ana.listeningOn else { throw NodeCommandError.invalidArgument("ana is not listening") }

        let conversation = try await ana.commands.create(title: "Launch plan")
        let token = try await ana.commands.invite(conversation, permission: .edit, label: "team")
        say("ana: created \"Launch plan\" (\(conversation.hex.prefix(12))…) and shared an invite (edit permission, \(token.bytes.count) signed bytes)")
        let plan = try await ana.commands.post("We ship on Friday", to: conversation)
        for (node, name) in [(ben, "ben"), (cat, "cat")] {
            _ = try await node.commands.join(token: token.bytes, via: address)
            say("\(name): joined through \(address) — admitted on the token, caught up, join recorded in the signed log")
        }
        _ = try await ben.commands.post("Great, I'll prepare the release notes", to: conversation)
        _ = try await cat.commands.post("I'll check the servers", to: conversation)
        try await converge(nodes, conversation)

        // Presence and typing travel by signed gossip, never into the log.
        try await ana.publish(.presence(Presence(status: .online, lastActiveAt: Node.systemWallClock(), customStatus: "planning")),
                              in: conversation)
        try await ben.publish(.typing(Typing(isTyping: true)), in: conversation)
        try await waitFor("ana to see ben typing") {
            guard let registers = await ana.ephemeralState(of: conversation) else { return false }
            return registers.typingOrigins(now: Node.systemWallClock()).contains(ben.replicaID)
        }
        try await waitFor("cat to see ana's presence") {
            guard let registers = await cat.ephemeralState(of: conversation) else { return false }
            return registers.presence(of: ana.replicaID, now: Node.systemWallClock())?.status == .online
        }
        say("ana sees: ben is typing…   cat sees: ana is online (\"planning\")")

        // Ben and Cat edit Ana's message at the same moment, at different places.
        let reference = MessageReference.text(plan)
        async let benEdit: Void = ben.commands.edit(reference, to: "We ship on Friday at 10:00", in: conversation)
        async let catEdit: Void = cat.commands.edit(reference, to: "We ship the beta on Friday", in: conversation)
        _ = try await (benEdit, catEdit)
        try await converge(nodes, conversation)
        let merged = try await ana.commands.log(conversation).first { $0.id == reference }?.text ?? ""
        say("ben and cat edited ana's message concurrently; every node shows: \"\(merged)\"")

        // Cat goes offline and keeps writing; the others write too.
        await cat.goOffline()
        say("cat: offline")
        _ = try await cat.commands.post("Servers are ready (written offline)", to: conversation)
        try await cat.commands.edit(reference, to: merged + "!", in: conversation)
        _ = try await ana.commands.post("Release notes look good", to: conversation)
        _ = try await ben.commands.post("Thanks!", to: conversation)
        let catCount = try await cat.commands.log(conversation).count
        let anaCount = try await ana.commands.log(conversation).count
        say("while apart: cat shows \(catCount) messages, ana shows \(anaCount)")

        let healed = clock.now
        await cat.goOnline()
        try await converge(nodes, conversation)
        let convergeTime = clock.now - healed
        say("cat: back online")

        var logs: [[LogEntry]] = []
        for node in nodes { logs.append(try await node.commands.log(conversation)) }
        for (name, log) in zip(names, logs) {
            say("\(name) sees \(log.count) messages:")
            for entry in log {
                say("  \(entry.authorName ?? "?"): \(entry.text)\(entry.edited ? " (edited)" : "")")
            }
        }
        let converged = logs.dropFirst().allSatisfy { $0 == logs[0] }
        return (LiveDemoReport(messages: logs[0].count, convergeMs: IngestBenchmark.milliseconds(convergeTime).rounded(),
                               totalMs: IngestBenchmark.milliseconds(clock.now - started).rounded(), converged: converged),
                conversation)
    }

    /// Waits until every node shows the same messages (bounded: 20 s).
    private static func converge(_ nodes: [Node], _ conversation: ConversationID) async throws {
        try await waitFor("the nodes to converge") {
            var logs: [[LogEntry]] = []
            for node in nodes { logs.append(try await node.commands.log(conversation)) }
            return logs.dropFirst().allSatisfy { $0 == logs[0] }
        }
    }

    private static func waitFor(_ what: String, timeout: Duration = .seconds(20),
                                _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw NodeCommandError.timedOut(what) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
