import ChatCore
import ChatStore

/// A join in progress: the token this node presents when it dials (so members admit it before
/// they hold its join), recorded as a signed join operation once the conversation's history
/// (the issuer's admin grant) has arrived, and forgotten once a peer reports holding that op.
/// Kept in the store's per-conversation metadata so a restart does not strand a joiner whose
/// join had not reached anyone yet.
struct PendingJoin: Sendable {
    var token: [UInt8]
    var grant: InviteGrant
    /// The join operation is signed and stored here.
    var recorded = false
    /// Declining a direct invitation rather than accepting it: once the invitation's record has
    /// arrived, sign a decline instead of a join (not kept across restarts).
    var declining = false

    /// Metadata format: version 1, then the token (length-prefixed).
    static func encode(token: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(capacity: token.count + 4)
        writer.write(byte: 1)
        writer.write(varint: UInt64(token.count))
        writer.write(bytes: token)
        return writer.bytes
    }

    /// The pending join stored for a conversation, or nil (none, or unreadable: then it is ignored).
    static func decode(_ bytes: [UInt8]) -> [UInt8]? {
        var reader = ByteReader(bytes)
        guard (try? reader.readByte()) == 1, let count = try? reader.readCount(limit: 64 << 10),
              let token = try? reader.readBytes(count), count > 0 else { return nil }
        return Array(token)
    }
}
