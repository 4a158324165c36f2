import ArgumentParser
import Foundation
@testable import StreamingChatCLI
import Testing

/// Issue 19: `audit --since` and `--until` take what people type, and the time `audit` prints.
@Suite struct TimeArgumentTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let nowMs: UInt64 = 1_800_000_000_000

    @Test func timesAgoCountBackFromNow() throws {
        #expect(try Sharing.milliseconds("45s", option: "--since", now: now) == nowMs - 45_000)
        #expect(try Sharing.milliseconds("10m", option: "--since", now: now) == nowMs - 600_000)
        #expect(try Sharing.milliseconds("2h", option: "--since", now: now) == nowMs - 7_200_000)
        #expect(try Sharing.milliseconds("3d", option: "--since", now: now) == nowMs - 259_200_000)
    }

    @Test func epochIsoAndThePrintedLocalTimeParse() throws {
        #expect(try Sharing.milliseconds("1700000000000", option: "--since", now: now) == 1_700_000_000_000)
        #expect(try Sharing.milliseconds("2026-11-27T03:00:00Z", option: "--since", now: now) == 1_795_748_400_000)
        let printed = Sharing.time(1_795_748_400_000)
        #expect(try Sharing.milliseconds(printed, option: "--since", now: now) == 1_795_748_400_000)
    }

    @Test func anythingElseIsAUsageError() {
        for text in ["yesterday", "10y"] {
            let failure = #expect(throws: CommandFailure.self) { try Sharing.milliseconds(text, option: "--since", now: now) }
            #expect(failure?.exitCode == 2, "a usage error: \(text)")
        }
    }
}
