import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatWire

/// What `streamingchat store check` prints. Field names are a contract.
public struct StoreCheckReport: Sendable, Codable, Equatable {
    public struct Author: Sendable, Codable, Equatable {
        /// The author's public key in text form.
        public var author: String
        public var batches: Int
        public var ops: UInt64
    }

    public struct Conversation: Sendable, Codable, Equatable {
        public var conversation: String
        public var batches: Int
        public var ops: UInt64
        public var forks: Int
        public var hasSnapshot: Bool
        public var authors: [Author]
    }

    public var ok: Bool
    public var conversations: [Conversation]
    public var problems: [String]
    public var signaturesVerified: Int
}

/// Read-only inspection of a store: every batch's encoding, signature, hash and chain.
public enum StoreCheck {
    /// Opens the store at `directory` read-only and checks everything in it.
    public static func run(directory: String) throws(NodeError) -> StoreCheckReport {
        let store: ChatStore
        do {
            store = try ChatStore(directory: directory, options: StoreOptions(readOnly: true))
        } catch {
            throw .store(error)
        }
        var verified = 0
        let report: IntegrityReport
        do {
            report = try store.checkIntegrity { record, previousHash in
                verified += 1
                return verify(record, previousHash: previousHash)
            }
        } catch {
            throw .store(error)
        }
        return StoreCheckReport(
            ok: report.ok,
            conversations: report.conversations.map { summary in
                StoreCheckReport.Conversation(
                    conversation: summary.conversation.hex, batches: summary.batchCount, ops: summary.opCount,
                    forks: summary.forkCount, hasSnapshot: summary.hasSnapshot,
                    authors: summary.authors.map {
                        StoreCheckReport.Author(author: PublicKey($0.author).text, batches: $0.batchCount, ops: $0.opCount)
                    })
            },
            problems: report.problems.map(\.description), signaturesVerified: verified)
    }

    /// A stored batch is sound when it decodes, its author and counters match its key, its
    /// signature verifies, its hash is its bytes' hash, and it names the previous batch's hash.
    static func verify(_ record: BatchRecord, previousHash: [UInt8]?) -> Bool {
        guard let batch = try? SignedBatch(decoding: record.bytes),
              batch.content.author == record.author, batch.content.firstCounter == record.firstCounter,
              batch.content.idCount == UInt64(record.opCount),
              let signature = Signature(bytes: batch.signature),
              PublicKey(record.author).isValidSignature(signature, for: batch.signedBytes),
              Hashing.blake2b(record.bytes) == record.hash
        else { return false }
        return batch.content.previousHash == (previousHash ?? Array(repeating: 0, count: WireFormat.hashBytes))
    }
}
