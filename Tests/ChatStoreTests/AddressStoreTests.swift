@testable import ChatStore
import ChatCore
import Foundation
import Testing

/// Member addresses kept per conversation (format 1.2): replaced per member, read back after
/// reopening, forgotten on request, and malformed records skipped.
@Suite("ChatStore addresses") struct AddressStoreTests {
    let conversation = ConversationID(bytes: Array(repeating: 0xAB, count: 32))!
    let other = ConversationID(bytes: Array(repeating: 0xCD, count: 32))!
    let ana = ReplicaID(testValue: 1), ben = ReplicaID(testValue: 2)

    @Test func addressesAreRememberedReplacedAndForgotten() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("addr-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try ChatStore(directory: path)
            try store.rememberAddresses([RememberedAddress(replica: ana, host: "127.0.0.1", port: 7400),
                                         RememberedAddress(replica: ben, host: "10.0.0.2", port: 7401),
                                         RememberedAddress(replica: ben, host: String(repeating: "h", count: 300), port: 1)],
                                        in: conversation)
            try store.rememberAddresses([RememberedAddress(replica: ana, host: "192.168.1.10", port: 7402)], in: conversation)
            try store.rememberAddresses([RememberedAddress(replica: ben, host: "elsewhere", port: 9)], in: other)
            // A record that does not decode is skipped, not trapped on.
            let database = try #require(store.databases.addresses)
            try store.environment.write { txn throws(StoreError) in
                try txn.put([9, 9], for: conversation.bytes + ReplicaID(testValue: 3).bytes, in: database)
            }
        }
        let store = try ChatStore(directory: path)
        let addresses = try store.rememberedAddresses(of: conversation)
        #expect(Set(addresses) == [RememberedAddress(replica: ana, host: "192.168.1.10", port: 7402),
                                   RememberedAddress(replica: ben, host: "10.0.0.2", port: 7401)])
        try store.forgetAddress(of: ana, in: conversation)
        #expect(try store.rememberedAddresses(of: conversation).map(\.replica) == [ben])
        #expect(try store.rememberedAddresses(of: other).map(\.host) == ["elsewhere"])
    }
}
