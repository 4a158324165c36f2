import ChatCore

/// A ``ByteReader`` whose errors are ``WireError``s, with the wire format's composite fields.
struct WireReader {
    var base: ByteReader
    let limits: WireLimits

    init(_ bytes: [UInt8], limits: WireLimits) {
        base = ByteReader(bytes)
        self.limits = limits
    }

    var offset: Int { base.offset }
    var isAtEnd: Bool { base.isAtEnd }

    mutating func byte() throws(WireError) -> UInt8 {
        do { return try base.readByte() } catch { throw .malformed(error) }
    }

    mutating func bytes(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
        do { return try base.readBytes(count) } catch { throw .malformed(error) }
    }

    mutating func varint() throws(WireError) -> UInt64 {
        do { return try base.readVarint() } catch { throw .malformed(error) }
    }

    mutating func varint32() throws(WireError) -> UInt32 {
        do { return try base.readVarint32() } catch { throw .malformed(error) }
    }

    /// A count or length, refused above `limit` before anything is allocated.
    mutating func count(_ field: String, limit: Int) throws(WireError) -> Int {
        let value = try varint()
        guard value <= UInt64(limit) else { throw .tooLarge(field: field, size: Int(clamping: value), limit: limit) }
        return Int(value)
    }

    /// 0 or 1 only.
    mutating func bool(_ field: String) throws(WireError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        default: throw .nonCanonical("\(field) must be 0 or 1")
        }
    }

    /// The magic, version and kind of a record.
    mutating func header(expecting kind: WireFormat.Kind) throws(WireError) {
        guard Array(try bytes(2)) == WireFormat.magic else { throw .badMagic }
        let version = try byte()
        guard version == WireFormat.version else { throw .unknownVersion(version) }
        let found = try byte()
        guard found == kind.rawValue else { throw .unknownKind(found) }
    }

    mutating func replicaID() throws(WireError) -> ReplicaID {
        guard let id = ReplicaID(bytes: try bytes(WireFormat.keyBytes)) else { throw .invalidValue("replica id") }
        return id
    }

    mutating func conversationID() throws(WireError) -> ConversationID {
        guard let id = ConversationID(bytes: try bytes(WireFormat.hashBytes)) else { throw .invalidValue("conversation id") }
        return id
    }

    /// A length-prefixed UTF-8 string.
    mutating func string(_ field: String, limit: Int) throws(WireError) -> String {
        let length = try count(field, limit: limit)
        let raw = try bytes(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return text
    }

    /// Length-prefixed UTF-8 text as Unicode scalars (strict UTF-8).
    mutating func scalars(_ field: String, limit: Int) throws(WireError) -> [Unicode.Scalar] {
        let length = try count(field, limit: limit)
        let raw = try bytes(length)
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(length)
        var inner = ByteReader(Array(raw))
        while !inner.isAtEnd {
            do { result.append(try Unicode.Scalar.decode(from: &inner)) } catch { throw .invalidUTF8(field: field) }
        }
        return result
    }
}

extension ByteWriter {
    /// A length-prefixed UTF-8 string.
    mutating func write(string: String) {
        var utf8 = Array(string.utf8)
        write(varint: UInt64(utf8.count))
        write(bytes: utf8)
        utf8.removeAll()
    }

    /// Unicode scalars as length-prefixed UTF-8.
    mutating func write(scalars: [Unicode.Scalar]) {
        var inner = ByteWriter(capacity: scalars.count)
        for scalar in scalars { scalar.encode(into: &inner) }
        write(varint: UInt64(inner.bytes.count))
        write(bytes: inner.bytes)
    }

    mutating func write(bool: Bool) { write(byte: bool ? 1 : 0) }

    /// Magic, version and kind.
    mutating func writeHeader(_ kind: WireFormat.Kind) {
        write(bytes: WireFormat.magic)
        write(byte: WireFormat.version)
        write(byte: kind.rawValue)
    }
}
