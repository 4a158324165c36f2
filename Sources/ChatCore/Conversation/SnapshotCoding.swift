/// Small readers and writers shared by the snapshot formats of ``ConversationDocument`` and
/// ``Conversation``. Every read is bounded by what remains; errors are ``DocumentError``s or
/// ``BinaryDecodingError``s, never traps.

func writeString(_ string: String, into writer: inout ByteWriter) {
    let utf8 = Array(string.utf8)
    writer.write(varint: UInt64(utf8.count))
    writer.write(bytes: utf8)
}

func writeOptional(_ string: String?, into writer: inout ByteWriter) {
    guard let string else { writer.write(byte: 0); return }
    writer.write(byte: 1)
    writeString(string, into: &writer)
}

func readString(_ reader: inout ByteReader) throws -> String {
    let raw = try reader.readBytes(try reader.readCount(limit: reader.remaining))
    guard let string = String(validating: raw, as: UTF8.self) else { throw DocumentError.malformedSnapshot("invalid UTF-8") }
    return string
}

func readOptional(_ reader: inout ByteReader) throws -> String? {
    switch try reader.readByte() {
    case 0: return nil
    case 1: return try readString(&reader)
    default: throw DocumentError.malformedSnapshot("optional flag")
    }
}

func readReplica(_ reader: inout ByteReader) throws -> ReplicaID {
    try reader.readReplicaID()
}

/// A vector clock as a count and (replica, count) pairs, sorted by replica.
func writeClock(_ clock: VectorClock, into writer: inout ByteWriter) {
    let entries = clock.entries
    writer.write(varint: UInt64(entries.count))
    for entry in entries {
        writer.write(bytes: entry.replica.bytes)
        writer.write(varint: entry.count)
    }
}

func readClock(_ reader: inout ByteReader) throws -> VectorClock {
    var clock = VectorClock()
    for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 33)) {
        let replica = try readReplica(&reader)
        clock[replica] = try reader.readVarint32()
    }
    return clock
}
