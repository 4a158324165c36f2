import ChatCore
import Foundation
@testable import ChatStore

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String = "ChatStoreTests") throws {
        var template = Array((NSTemporaryDirectory() + "/\(label).XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: created)
    }

    /// The path of a not-yet-existing child (to test directory creation).
    func child(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` with a temporary directory that is removed afterwards, whatever happens.
func withTemporaryDirectory<T>(_ body: (TemporaryDirectory) throws -> T) throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    return try body(directory)
}

/// A toy 32-byte hash for tests (four FNV-1a-64 lanes with different offsets); ChatStore never
/// hashes, the verifier the test passes to `checkIntegrity` does.
func testHash(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    for lane in 0 ..< 4 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 &+ UInt64(lane) &* 0x9E37_79B9_7F4A_7C15
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: hash >> UInt64(shift))) }
    }
    return out
}

/// Test batch bytes: `previousHash (32, zeros for the first) ‖ author (32) ‖ firstCounter ‖ opCount ‖
/// payload`, hashed with `testHash`: enough structure for a verifier to check hash and chain.
func makeBatch(
    conversation: ConversationID, author: ReplicaID, firstCounter: UInt32, opCount: UInt32,
    previousHash: [UInt8]?, payload: [UInt8]
) -> BatchRecord {
    var bytes = previousHash ?? [UInt8](repeating: 0, count: 32)
    bytes += author.bytes
    for value in [firstCounter, opCount] {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
    bytes += payload
    return BatchRecord(
        conversation: conversation, author: author, firstCounter: firstCounter, opCount: opCount,
        hash: testHash(bytes), bytes: bytes)
}

/// The verifier matching `makeBatch`: the hash covers the bytes, the bytes chain to the previous hash.
func verifyTestBatch(_ record: BatchRecord, _ previousHash: [UInt8]?) -> Bool {
    guard record.bytes.count >= 72, record.hash == testHash(record.bytes) else { return false }
    return Array(record.bytes[0 ..< 32]) == (previousHash ?? [UInt8](repeating: 0, count: 32))
}

/// Builds each author's chain of batches, like a set of replicas would.
struct ChainBuilder {
    let conversation: ConversationID
    var random: SeededGenerator
    private(set) var heads: [ReplicaID: (next: UInt32, hash: [UInt8])] = [:]

    init(conversation: ConversationID, seed: UInt64) {
        self.conversation = conversation
        self.random = SeededGenerator(seed: seed)
    }

    /// The next batch of `author` with `opCount` ops and a random payload of `payloadSize` bytes.
    mutating func next(_ author: ReplicaID, opCount: UInt32, payloadSize: Int = 64) -> BatchRecord {
        let head = heads[author]
        let payload = (0 ..< payloadSize).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
        let batch = makeBatch(
            conversation: conversation, author: author, firstCounter: head?.next ?? 0, opCount: opCount,
            previousHash: head?.hash, payload: payload)
        heads[author] = (batch.firstCounter + opCount, batch.hash)
        return batch
    }

    /// The clock the built batches cover.
    var clock: VectorClock { VectorClock(heads.mapValues(\.next)) }
}

func conversationID(_ value: UInt8) -> ConversationID {
    ConversationID(bytes: [UInt8](repeating: value, count: 32))!
}
