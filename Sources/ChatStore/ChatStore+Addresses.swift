public import ChatCore

/// Where a member's node listens, remembered for one conversation.
public struct RememberedAddress: Sendable, Hashable {
    public var replica: ReplicaID
    public var host: String
    public var port: UInt16

    public init(replica: ReplicaID, host: String, port: UInt16) {
        self.replica = replica
        self.host = host
        self.port = port
    }
}

extension ChatStore {
    /// Remembers where member nodes of `conversation` listen (one address per member: a new one
    /// replaces the old), in one write transaction. Hosts longer than 255 UTF-8 bytes are skipped.
    /// - Throws: `StoreError.readOnly` on a read-only store, or the LMDB error.
    /// - Complexity: O(k log n) for k addresses.
    public func rememberAddresses(_ addresses: [RememberedAddress], in conversation: ConversationID) throws(StoreError) {
        guard !addresses.isEmpty else { return }
        guard !options.readOnly, let database = databases.addresses else { throw StoreError.readOnly }
        try environment.write { txn throws(StoreError) in
            for address in addresses {
                let host = Array(address.host.utf8)
                guard !host.isEmpty, host.count <= 255 else { continue }
                let value = [StoreSchema.addressValueVersion, UInt8(address.port >> 8), UInt8(address.port & 0xFF)] + host
                try txn.put(value, for: StoreSchema.authorKey(conversation, address.replica), in: database)
            }
        }
    }

    /// The member addresses remembered for `conversation`, sorted by member; records that do not
    /// decode are skipped.
    /// - Complexity: O(log n + m) for the m addresses read.
    public func rememberedAddresses(of conversation: ConversationID) throws(StoreError) -> [RememberedAddress] {
        guard let database = databases.addresses else { return [] }
        return try environment.read { txn throws(StoreError) -> [RememberedAddress] in
            var addresses: [RememberedAddress] = []
            try txn.forEach(in: database, withPrefix: conversation.bytes) { entry throws(StoreError) in
                let value = entry.value
                guard entry.key.count == 2 * StoreSchema.idLength, value.count > 3, value[0] == StoreSchema.addressValueVersion,
                      let replica = ReplicaID(bytes: entry.key[StoreSchema.idLength...]),
                      let host = String(validating: value[3...], as: UTF8.self) else { return true }
                addresses.append(RememberedAddress(replica: replica, host: host, port: UInt16(value[1]) << 8 | UInt16(value[2])))
                return true
            }
            return addresses
        }
    }

    /// Forgets where `replica` listens for `conversation` (a removed member).
    /// - Complexity: O(log n).
    public func forgetAddress(of replica: ReplicaID, in conversation: ConversationID) throws(StoreError) {
        guard !options.readOnly, let database = databases.addresses else { throw StoreError.readOnly }
        try environment.write { txn throws(StoreError) in
            _ = try txn.delete(StoreSchema.authorKey(conversation, replica), in: database)
        }
    }
}
