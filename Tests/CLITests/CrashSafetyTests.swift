import ChatCore
import Foundation
import Testing

/// A child process ingests batches and reports each durable commit; it is killed with SIGKILL at
/// random points. After every kill the store must hold at least what was reported, pass the full
/// integrity check (signatures, hashes, chains), and take the ingest up again.
@Suite struct CrashSafetyTests {
    @Test func fiftyRandomKillsLoseNothingReportedDurable() throws {
        let seed: UInt64 = 5050
        var random = SeededGenerator(seed: seed)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sc-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = folder.appendingPathComponent("store").path
        var reportedDurable = 0
        var kills = 0
        var rounds = 0
        while kills < 50, rounds < 80 {
            rounds += 1
            let process = Process()
            process.executableURL = try BenchTraceCommandTests.binary()
            process.arguments = ["debug", "ingest-loop", "--data", store, "--ops", "20000"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Read "durable N" lines until a random number of commits has been seen, then kill.
            let target = Int.random(in: 1 ... 12, using: &random)
            var seen = 0
            var buffer = Data()
            var finished = false
            while seen < target {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { finished = true; break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[buffer.startIndex ..< newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex ... newline)
                    if line.hasPrefix("durable "), let count = Int(line.dropFirst(8)), count > reportedDurable {
                        reportedDurable = count
                        seen += 1
                    }
                    if line == "done" { finished = true }
                }
                if finished { break }
            }
            if process.isRunning {
                usleep(UInt32.random(in: 0 ... 20_000, using: &random)) // land anywhere in the next commit
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            }
            process.waitUntilExit()
            // Check the store after every kill.
            let check = try BenchTraceCommandTests.run(["store", "check", store, "--json"])
            #expect(check.status == 0, "store check failed after kill \(kills) (seed \(seed)): \(check.stdout) \(check.stderr)")
            let object = try #require(JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
            let conversations = try #require(object["conversations"] as? [[String: Any]])
            let stored = conversations.first?["batches"] as? Int ?? 0
            #expect(stored >= reportedDurable, "lost durable batches after kill \(kills) (seed \(seed)): \(stored) < \(reportedDurable)")
            if finished && !process.isRunning && kills < 50 && stored >= 1800 {
                // The workload is complete; start over in a fresh store so kills keep landing mid-ingest.
                try FileManager.default.removeItem(atPath: store)
                reportedDurable = 0
            }
        }
        #expect(kills >= 50, "only \(kills) kills landed (seed \(seed))")
    }
}
