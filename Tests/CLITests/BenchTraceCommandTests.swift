import Foundation
import Testing

/// Runs the built `streamingchat` binary as a user would.
@Suite struct BenchTraceCommandTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let tracesFolder = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/traces")

    /// The `streamingchat` binary the tests run: `$STREAMINGCHAT_BINARY` when set (to measure a
    /// release build), else the one built beside the tests.
    static func binary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["STREAMINGCHAT_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0 ..< 4 {
            let candidate = folder.appendingPathComponent("streamingchat")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        let fallback = packageRoot.appendingPathComponent(".build/debug/streamingchat")
        guard FileManager.default.isExecutableFile(atPath: fallback.path) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: fallback.path])
        }
        return fallback
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test func jsonReportHasTheContractFields() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sc-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("tiny.json")
        let trace = #"{"kind":"concurrent","endContent":"hey you","numAgents":2,"txns":[{"parents":[],"numChildren":2,"agent":0,"patches":[[0,0,"hey"]]},{"parents":[0],"numChildren":1,"agent":1,"patches":[[3,0," you"]]},{"parents":[0],"numChildren":1,"agent":0,"patches":[]},{"parents":[1,2],"numChildren":0,"agent":0,"patches":[]}]}"#
        try Data(trace.utf8).write(to: file)
        let result = try Self.run(["bench", "trace", file.path, "--json", "--runs", "3"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        for field in ["trace", "kind", "patches", "ops", "replicas", "replayMs", "loadMs", "encodedBytes",
                      "peakRSSBytes", "finalLength", "sha256"] {
            #expect(object[field] != nil, "missing field \(field)")
        }
        #expect(object["trace"] as? String == "tiny")
        #expect(object["kind"] as? String == "concurrent")
        #expect(object["replicas"] as? Int == 2)
        #expect(object["finalLength"] as? Int == 7)
        #expect(object["ops"] as? Int == 7)
        // sha256("hey you")
        #expect(object["sha256"] as? String == "70a91c94045cb0df490242fa6d2162b60f57262d4dac7d9504e16dea45166702")
    }

    @Test func missingFileFailsClearly() throws {
        let result = try Self.run(["bench", "trace", "/nonexistent/trace.json.gz", "--json"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("/nonexistent/trace.json.gz"))
        #expect(result.stdout.isEmpty)
    }

    @Test func malformedFileFailsClearly() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sc-bad-\(UUID().uuidString).json")
        try Data("{\"txns\": [".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Self.run(["bench", "trace", file.path])
        #expect(result.status != 0)
        #expect(!result.stderr.isEmpty)
    }

    /// Issue 18: `bench ingest` reports what it measured — ops applied (every one, or it fails),
    /// signatures that really verified (one per received batch), and a per-batch latency whose
    /// 99th percentile is at least its median.
    @Test func ingestFiguresCountWhatHappened() throws {
        let result = try Self.run(["bench", "ingest", "--ops", "3000", "--ops-per-batch", "10", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let ops = try #require(report["ops"] as? Int)
        let batches = try #require(report["batches"] as? Int)
        #expect(report["operationsApplied"] as? Int == ops)
        #expect(report["signaturesVerified"] as? Int == batches)
        let p50 = try #require(report["msPerBatchP50"] as? Double)
        let p99 = try #require(report["msPerBatchP99"] as? Double)
        #expect(p50 > 0 && p99 >= p50)
        #expect((report["opsPerSecond"] as? Double ?? 0) > 0)
    }

    /// Issue 18: `bench conversation` checks the reloaded conversation by a digest of everything a
    /// reader sees, and prints it.
    @Test func conversationBenchChecksTheWholeVisibleState() throws {
        let result = try Self.run(["bench", "conversation", "--messages", "300", "--edits", "5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((report["stateDigest"] as? String)?.isEmpty == false)
        #expect(report["visibleMessages"] as? Int == 300)
    }
}
