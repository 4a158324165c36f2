import ChatCore

/// Why bytes from a peer or a file were refused. Stable `code`s for counters and logs.
public enum WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes end early, a varint is malformed, or a primitive value is out of range.
    case malformed(BinaryDecodingError)
    /// The leading magic bytes are wrong: not our format.
    case badMagic
    /// A major version this build does not speak.
    case unknownVersion(UInt8)
    /// A record or frame type this version does not define.
    case unknownKind(UInt8)
    /// An operation tag this version does not define.
    case unknownOperation(UInt8)
    /// A field is larger than its limit; checked before anything is allocated.
    case tooLarge(field: String, size: Int, limit: Int)
    /// Text that is not valid UTF-8.
    case invalidUTF8(field: String)
    /// Bytes that decode but are not the one canonical encoding of their value.
    case nonCanonical(String)
    /// Bytes after the end of the value.
    case trailingBytes(Int)
    /// A value that is well formed but not allowed (e.g. a zero-length delete).
    case invalidValue(String)

    /// A stable, machine-readable reason code.
    public var code: String {
        switch self {
        case .malformed(let error): "malformed_\(error.code)"
        case .badMagic: "bad_magic"
        case .unknownVersion: "unknown_version"
        case .unknownKind: "unknown_kind"
        case .unknownOperation: "unknown_operation"
        case .tooLarge: "too_large"
        case .invalidUTF8: "invalid_utf8"
        case .nonCanonical: "non_canonical"
        case .trailingBytes: "trailing_bytes"
        case .invalidValue: "invalid_value"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let error): "malformed input: \(error)"
        case .badMagic: "not StreamingChat wire data (bad magic bytes)"
        case .unknownVersion(let version): "unsupported wire version \(version)"
        case .unknownKind(let kind): "unknown record kind \(kind)"
        case .unknownOperation(let tag): "unknown operation tag \(tag)"
        case .tooLarge(let field, let size, let limit): "\(field) is \(size) bytes or items, over the limit of \(limit)"
        case .invalidUTF8(let field): "\(field) is not valid UTF-8"
        case .nonCanonical(let reason): "non-canonical encoding: \(reason)"
        case .trailingBytes(let count): "\(count) unexpected bytes after the end"
        case .invalidValue(let reason): "invalid value: \(reason)"
        }
    }
}

/// Size limits applied while decoding, before allocating.
public struct WireLimits: Sendable, Hashable {
    public var maxBatchBytes: Int
    public var maxOperationsPerBatch: Int
    public var maxTextBytes: Int
    public var maxStringBytes: Int
    /// The most entries of a vector clock in a `clock` frame (a sync summary: one per author).
    public var maxClockEntries: Int
    /// The most dependencies one batch names (heads new since its author's previous batch).
    public var maxDependencies: Int
    public var maxReplicaTable: Int
    public var maxTokenBytes: Int
    public var maxFrameBytes: Int
    /// The most signed ephemeral updates in one `ephemeral` data frame.
    public var maxEphemeralPerFrame: Int
    /// The most addresses in one `peers` data frame.
    public var maxPeerAddresses: Int

    /// Defaults: 1 MiB batches of up to 65,536 operations naming up to 4,096 dependencies, 64 KiB
    /// of text per operation, clocks of up to 65,536 authors, 256 ephemeral updates and 64 peer
    /// addresses per frame.
    public static let `default` = WireLimits(
        maxBatchBytes: 1 << 20, maxOperationsPerBatch: 1 << 16, maxTextBytes: 64 << 10, maxStringBytes: 1024,
        maxClockEntries: 1 << 16, maxReplicaTable: 4096, maxTokenBytes: 4096, maxFrameBytes: 4 << 20,
        maxEphemeralPerFrame: 256, maxPeerAddresses: 64, maxDependencies: 4096)

    public init(maxBatchBytes: Int, maxOperationsPerBatch: Int, maxTextBytes: Int, maxStringBytes: Int,
                maxClockEntries: Int, maxReplicaTable: Int, maxTokenBytes: Int, maxFrameBytes: Int,
                maxEphemeralPerFrame: Int = 256, maxPeerAddresses: Int = 64, maxDependencies: Int = 4096) {
        self.maxBatchBytes = maxBatchBytes
        self.maxOperationsPerBatch = maxOperationsPerBatch
        self.maxTextBytes = maxTextBytes
        self.maxStringBytes = maxStringBytes
        self.maxClockEntries = maxClockEntries
        self.maxDependencies = maxDependencies
        self.maxReplicaTable = maxReplicaTable
        self.maxTokenBytes = maxTokenBytes
        self.maxFrameBytes = maxFrameBytes
        self.maxEphemeralPerFrame = maxEphemeralPerFrame
        self.maxPeerAddresses = maxPeerAddresses
    }
}

/// Format constants shared by every record: magic "SC", version 1, then a kind byte.
public enum WireFormat {
    public static let magic: [UInt8] = [0x53, 0x43]
    public static let version: UInt8 = 1

    /// Record kinds.
    public enum Kind: UInt8, Sendable {
        /// Kind 1 was the batch of protocol 4 and older, which carried a whole vector clock.
        case batch = 5
        case inviteToken = 2
        case ephemeral = 3
        case admission = 4
    }

    public static let signatureBytes = 64
    public static let hashBytes = 32
    public static let keyBytes = 32
}

extension WireFormat {
    /// `body` with the signature `sign` makes over it appended: how every signed record ends.
    static func appendingSignature(to body: [UInt8], sign: ([UInt8]) -> [UInt8]) -> [UInt8] {
        let signature = sign(body)
        precondition(signature.count == signatureBytes, "a signature is 64 bytes") // SAFETY: programming error, not input
        return body + signature
    }

    /// A reader over the signed part of an untrusted signed record (`bytes` without its trailing
    /// signature), its size checked against `maxBytes` and its header against `kind`.
    static func signedPart(of bytes: [UInt8], kind: Kind, field: String, maxBytes: Int,
                           limits: WireLimits) throws(WireError) -> WireReader {
        guard bytes.count <= maxBytes else { throw .tooLarge(field: field, size: bytes.count, limit: maxBytes) }
        guard bytes.count > signatureBytes else { throw .malformed(.truncated(offset: bytes.count)) }
        var reader = WireReader(Array(bytes.dropLast(signatureBytes)), limits: limits)
        try reader.header(expecting: kind)
        return reader
    }
}
