extension OpID: SequenceElementCodable {
    /// Replica key (32 bytes) and counter (varint).
    public func encode(into writer: inout ByteWriter) {
        writer.write(bytes: replica.bytes)
        writer.write(varint: counter)
    }

    public static func decode(from reader: inout ByteReader) throws(BinaryDecodingError) -> OpID {
        OpID(replica: try reader.readReplicaID(), counter: try reader.readVarint32())
    }
}

/// The snapshot format of a conversation document (version 1): title, settings, permissions and
/// profiles sorted by replica, the message list's sequence state, then each message (sorted by
/// id) with its flags and its body's sequence state. Loading rebuilds the message list
/// directly; the bodies are checked and kept encoded (see ``MessageBody``).
extension ConversationDocument {
    static let snapshotMagic: [UInt8] = [0x53, 0x44, 0x01] // "SD" v1

    /// The whole materialized state as bytes.
    /// - Complexity: O(state size).
    public func encodedSnapshot() -> [UInt8] {
        var writer = ByteWriter(capacity: 1024)
        encodeSnapshot(into: &writer)
        return writer.bytes
    }

    /// Appends the snapshot to `writer` (self-delimiting).
    func encodeSnapshot(into writer: inout ByteWriter) {
        writer.write(bytes: Self.snapshotMagic)
        writeString(title, into: &writer)
        writer.write(varint: settings.messagesPerMinute)
        writer.write(varint: settings.maxMessageBytes)
        writer.write(byte: settings.isPublic ? 1 : 0)
        writer.write(varint: UInt64(appliedCount))
        let members = permissions.sorted { $0.key < $1.key }
        writer.write(varint: UInt64(members.count))
        for (member, permission) in members {
            writer.write(bytes: member.bytes)
            writer.write(byte: permission.rawValue)
        }
        let people = profiles.sorted { $0.key < $1.key }
        writer.write(varint: UInt64(people.count))
        for (person, entry) in people {
            writer.write(bytes: person.bytes)
            writer.write(varint: entry.counter)
            writeString(entry.profile.displayName, into: &writer)
            writeOptional(entry.profile.avatar, into: &writer)
            writer.write(varint: entry.profile.colour.map { UInt64($0) + 1 } ?? 0)
            writeOptional(entry.profile.status, into: &writer)
            writeOptional(entry.profile.statusEmoji, into: &writer)
        }
        messageList.encodeState(into: &writer)
        let ids = messages.keys.sorted()
        writer.write(varint: UInt64(ids.count))
        for id in ids {
            guard let record = messages[id] else { continue }
            id.encode(into: &writer)
            writer.write(varint: record.postedAt)
            writer.write(byte: (record.isEdited ? 1 : 0) | (record.isDeleted ? 2 : 0))
            record.body.encodeState(into: &writer)
        }
    }

    /// Loads a snapshot made by ``encodedSnapshot()``; local edits are made as `localReplica`.
    /// Untrusted input throws; it never traps.
    public init(snapshot bytes: [UInt8], localReplica: ReplicaID) throws(DocumentError) {
        var reader = ByteReader(bytes)
        try self.init(snapshot: &reader, localReplica: localReplica)
        guard reader.isAtEnd else { throw DocumentError.malformedSnapshot("trailing bytes") }
    }

    /// Reads one snapshot from `reader` (self-delimiting).
    init(snapshot reader: inout ByteReader, localReplica: ReplicaID) throws(DocumentError) {
        do {
            guard Array(try reader.readBytes(3)) == Self.snapshotMagic else {
                throw DocumentError.malformedSnapshot("not a conversation snapshot")
            }
            self.init(localReplica: localReplica)
            title = try readString(&reader)
            settings = ConversationSettings(
                messagesPerMinute: try reader.readVarint32(), maxMessageBytes: try reader.readVarint32(),
                isPublic: try reader.readByte() == 1)
            appliedCount = Int(try reader.readVarint32())
            for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 33)) {
                let member = try readReplica(&reader)
                guard let permission = Permission(rawValue: try reader.readByte()) else {
                    throw DocumentError.malformedSnapshot("permission level")
                }
                permissions[member] = permission
            }
            for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 33)) {
                let person = try readReplica(&reader)
                let counter = try reader.readVarint32()
                let name = try readString(&reader)
                let avatar = try readOptional(&reader)
                let colour = try reader.readVarint()
                guard colour <= 0x100_0000 else { throw DocumentError.malformedSnapshot("colour") }
                let status = try readOptional(&reader)
                let emoji = try readOptional(&reader)
                profiles[person] = (counter, Profile(displayName: name, avatar: avatar,
                                                     colour: colour == 0 ? nil : UInt32(colour - 1),
                                                     status: status, statusEmoji: emoji))
            }
            messageList = try SequenceCRDT(decoding: &reader, replica: localReplica)
            let messageCount = try reader.readCount(limit: reader.remaining / 36)
            messages.reserveCapacity(messageCount)
            var checker = SequenceStateChecker()
            for _ in 0 ..< messageCount {
                let id = try OpID.decode(from: &reader)
                let postedAt = try reader.readVarint()
                let flags = try reader.readByte()
                guard flags < 4 else { throw DocumentError.malformedSnapshot("message flags") }
                // The body is checked, not built: it stays encoded (see MessageBody).
                messages.insert(StoredMessage(postedAt: postedAt, body: try MessageBody(checkedState: &reader, checker: &checker),
                                              isEdited: flags & 1 != 0, isDeleted: flags & 2 != 0), for: id)
            }
        } catch let error as DocumentError {
            throw error
        } catch let error as SequenceError {
            throw .sequence(error)
        } catch let error as BinaryDecodingError {
            throw .malformedSnapshot(error.description)
        } catch {
            throw .malformedSnapshot("\(error)")
        }
    }
}
