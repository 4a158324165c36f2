import Foundation
import Glibc
import Testing

/// Issue 15, item 6: `join` says where it stands while it waits (on a terminal, or with
/// `--progress`), on standard error, so standard output keeps only the result.
@Suite(.serialized) struct JoinProgressTests {

    @Test func joinShowsItsProgressOnStandardError() throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ana, ben, conversation, url) = try DaemonTests.anaAndBen(in: root, conversation: "progress")
        defer { ana.kill(); ben.kill() }
        let dataB = ben.data

        // Nobody listens at this address: the join says it is dialling, then times out.
        let stalled = try BenchTraceCommandTests.run(["join", "--data", dataB, "127.0.0.1:\(try Self.unusedPort())", url,
                                                      "--timeout", "2", "--progress"])
        #expect(stalled.status != 0)
        #expect(stalled.stderr.contains("join: dialling a member's node"), "stderr: \(stalled.stderr)")
        #expect(stalled.stdout.isEmpty)

        // Through Ana: standard output is the conversation alone, as without --progress.
        let joined = try BenchTraceCommandTests.run(["join", "--data", dataB, url, "--progress"])
        #expect(joined.status == 0, "stderr: \(joined.stderr)")
        #expect(joined.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == conversation)
        // Progress lines, then one line saying what happened (issue 19: feedback for every command).
        let said = joined.stderr.split(separator: "\n")
        #expect(said.dropLast().allSatisfy { $0.hasPrefix("join: ") }, "stderr: \(joined.stderr)")
        #expect(said.last == "joined “progress” as comment", "stderr: \(joined.stderr)")
    }

    /// A loopback port that was free a moment ago (bound to port 0, then closed).
    static func unusedPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw DaemonTests.DaemonTestError("no free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}
