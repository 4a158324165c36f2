import Foundation
import Testing

/// Issue 17: `streamingchat demo --ui` keeps the three demo nodes running after the narration,
/// each with its browser UI, prints a one-time login address per node, and stops on Ctrl-C.
@Suite(.serialized) struct DemoUITests {
    @Test func theDemoKeepsItsNodesServingUntilInterrupted() throws {
        let output = try DaemonTests.temporaryDirectory() + "/demo.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        let process = Process()
        process.executableURL = try BenchTraceCommandTests.binary()
        process.arguments = ["demo", "--ui"]
        process.standardOutput = handle
        process.standardError = FileHandle.nullDevice
        try process.run()
        try handle.close()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let addresses = try DaemonTests.poll("the three addresses", timeout: .seconds(60)) { () -> [String: String]? in
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            guard text.contains("demo: the three nodes keep running") else { return nil }
            var found: [String: String] = [:]
            for line in text.split(separator: "\n") {
                for name in ["ana", "ben", "cat"] where line.hasPrefix(name + ": http://127.0.0.1:") {
                    found[name] = String(line.dropFirst(name.count + 2))
                }
            }
            return found.count == 3 ? found : nil
        }
        // Ben's address logs in; with the cookie his node answers and shows the demo's messages.
        let ben = try #require(addresses["ben"])
        let login = try HTTPAPITests.curl(ben)
        #expect(login.status == 303)
        let cookie = "Cookie: " + String((login.headers["set-cookie"] ?? "").prefix { $0 != ";" })
        let base = String(ben.prefix { $0 != "?" }.dropLast("login".count))
        let conversation = String(ben.split(separator: "conversation=").last ?? "")
        let state = try HTTPAPITests.curl(base + "api/conversations/\(conversation)/state", headers: [cookie])
        #expect(state.status == 200)
        #expect((state.json["messages"] as? [[String: Any]])?.count == 6, "\(state.text.prefix(300))")

        kill(process.processIdentifier, SIGINT)
        _ = try DaemonTests.poll("the demo to stop", timeout: .seconds(20)) { process.isRunning ? nil : true }
        #expect(process.terminationStatus == 0)
        #expect(try String(contentsOfFile: output, encoding: .utf8).contains("demo: 3 nodes converged on 6 messages"))
    }
}
