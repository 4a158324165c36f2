import Foundation
import Testing

/// Issue 15, item 1, with real daemons started as the README says: Ben joins Ana's
/// conversation with a link (no `--peer`), then either node is SIGKILLed and started again
/// with only `serve --data DIR --listen …`. The restarted node dials the members it remembers
/// (their addresses are kept in its store), so messages written while it was down, and after,
/// flow both ways again. Every wait is bounded.
@Suite(.serialized) struct ReconnectionTests {
    typealias Daemon = DaemonTests.Daemon

    /// Waits until `data`'s log of `conversation` shows `text`; returns how long that took.
    static func waitForMessage(_ text: String, on data: String, in conversation: String) throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        _ = try DaemonTests.poll("\"\(text)\" on \(data)", timeout: .seconds(15)) { () -> Bool? in
            let messages = try DaemonTests.json(["log", "--data", data, conversation])["messages"] as? [[String: Any]] ?? []
            return messages.contains { $0["text"] as? String == text } ? true : nil
        }
        return clock.now - start
    }

    @Test func aRestartedNodeReconnectsWithoutFlagsWhicheverSideRestarts() throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dataA = root + "/a", dataB = root + "/b"
        var ana = try Daemon(data: dataA, extra: ["--name", "ana"])
        defer { ana.kill() }
        var ben = try Daemon(data: dataB, extra: ["--name", "ben"])
        defer { ben.kill() }
        let conversation = try DaemonTests.json(["create", "--data", dataA, "team"])["conversation"] as? String ?? ""
        let link = try DaemonTests.json(["link", "create", "--data", dataA, conversation, "--permission", "comment"])
        let url = try #require(link["url"] as? String)
        #expect(try DaemonTests.json(["join", "--data", dataB, url])["conversation"] as? String == conversation)
        try DaemonTests.cli(["send", "--data", dataB, conversation, "hello from ben"])
        _ = try Self.waitForMessage("hello from ben", on: dataA, in: conversation)

        // Ben's node dies; Ana writes meanwhile; Ben's node starts again with no flags.
        ben.kill()
        try DaemonTests.cli(["send", "--data", dataA, conversation, "while ben was away"])
        ben = try Daemon(data: dataB, extra: ["--name", "ben"])
        let benCaughtUp = try Self.waitForMessage("while ben was away", on: dataB, in: conversation)
        try DaemonTests.cli(["send", "--data", dataB, conversation, "ben is back"])
        _ = try Self.waitForMessage("ben is back", on: dataA, in: conversation)

        // Now Ana's node dies and comes back on another port: it dials Ben.
        ana.kill()
        try DaemonTests.cli(["send", "--data", dataB, conversation, "while ana was away"])
        ana = try Daemon(data: dataA, extra: ["--name", "ana"])
        let anaCaughtUp = try Self.waitForMessage("while ana was away", on: dataA, in: conversation)
        try DaemonTests.cli(["send", "--data", dataA, conversation, "ana is back"])
        _ = try Self.waitForMessage("ana is back", on: dataB, in: conversation)
        print("reconnection after restart: ben \(benCaughtUp), ana \(anaCaughtUp)")
        #expect(benCaughtUp < .seconds(2) && anaCaughtUp < .seconds(2), "ben \(benCaughtUp), ana \(anaCaughtUp)")
    }
}

extension ReconnectionTests {
    /// Three daemons started as the README says (Ben and Cat join with a link, no `--peer`),
    /// all writing, while nodes are SIGKILLed and started again at seeded random moments.
    /// Afterwards every acknowledged message is on every node exactly once.
    @Test func chaosKillsLoseNothingAcknowledged() throws {
        let seed: UInt64 = 20261203
        var random = LinearCongruential(seed: seed)
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = ["ana", "ben", "cat"].map { root + "/" + $0 }
        var daemons: [Daemon?] = try data.enumerated().map { index, path in
            try Daemon(data: path, extra: ["--name", ["ana", "ben", "cat"][index]])
        }
        defer { for daemon in daemons { daemon?.kill() } }
        let conversation = try DaemonTests.json(["create", "--data", data[0], "chaos"])["conversation"] as? String ?? ""
        for joiner in 1 ... 2 {
            let link = try DaemonTests.json(["link", "create", "--data", data[0], conversation, "--permission", "comment"])
            let url = try #require(link["url"] as? String)
            _ = try DaemonTests.json(["join", "--data", data[joiner], url])
        }
        var acknowledged: [String] = []
        // 21 rounds, 3 of them kills: at most 9 messages per author (the default rate is 10 a minute).
        for round in 0 ..< 21 {
            if round % 7 == 6 {
                // Kill a node, let the others write, start it again with the same data.
                let victim = random.next(3)
                daemons[victim]?.kill()
                daemons[victim] = nil
                for writer in 0 ..< 3 where writer != victim {
                    let text = "round \(round) from \(writer) while \(victim) was down"
                    try DaemonTests.cli(["send", "--data", data[writer], conversation, text])
                    acknowledged.append(text)
                }
                daemons[victim] = try Daemon(data: data[victim], extra: ["--name", ["ana", "ben", "cat"][victim]])
                continue
            }
            let writer = round % 3
            let text = "round \(round) from \(writer)"
            try DaemonTests.cli(["send", "--data", data[writer], conversation, text])
            acknowledged.append(text)
        }
        for path in data {
            _ = try DaemonTests.poll("every acknowledged message once on \(path) (seed \(seed))", timeout: .seconds(20)) { () -> Bool? in
                let texts = (try DaemonTests.json(["log", "--data", path, conversation])["messages"] as? [[String: Any]] ?? [])
                    .compactMap { $0["text"] as? String }
                return texts.count == acknowledged.count && Set(texts) == Set(acknowledged) ? true : nil
            }
        }
    }
}

/// A seeded generator for choices in tests (the seed is printed with any failure).
struct LinearCongruential {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(bound))
    }
}
