/// Snapshot format of a ``Conversation`` (version 2): the document snapshot, then the governance
/// operations (each with its id, cut, timestamp and kind), the excluded operations with reasons,
/// the clock, and each author's rate window and latest timestamp. Loading re-resolves governance
/// (small) and rebuilds nothing else, so links and access requests (``SharingState``) come back
/// from the resolution.
///
/// Version 2 adds governance kinds 7–10 (`createLink`, `revokeLink`, `declineInvite`,
/// `requestAccess`); version 3 adds kind 11 (a token join with its ``JoinAdmission``) and a
/// direct invitation's token to kind 7; version 4 adds the equivocating authors with their fork
/// points at the end; version 5 adds a link's short code (lookup and sealed token) to kind 7;
/// version 6 adds kind 12 (a public join with its ``JoinAdmission``). Older
/// snapshots (which cannot hold them) still load.
extension Conversation {
    static let snapshotMagicPrefix: [UInt8] = [0x53, 0x56] // "SV"
    static let snapshotVersion: UInt8 = 6
    static let snapshotMagic: [UInt8] = snapshotMagicPrefix + [snapshotVersion]

    /// The whole state as bytes.
    public func encodedSnapshot() -> [UInt8] {
        var writer = ByteWriter(capacity: 4096)
        writer.write(bytes: Self.snapshotMagic)
        document.encodeSnapshot(into: &writer)
        writer.write(varint: UInt64(governanceOps.count))
        for op in governanceOps {
            op.id.encode(into: &writer)
            writeClock(op.cut, into: &writer)
            writer.write(varint: op.timestamp)
            switch op.kind {
            case .genesis(let title, let isPublic):
                writer.write(byte: 0)
                writeString(title, into: &writer)
                writer.write(byte: isPublic ? 1 : 0)
            case .setPermission(let member, let permission):
                writer.write(byte: 1)
                writer.write(bytes: member.bytes)
                writer.write(byte: permission.rawValue)
            case .removeMember(let member):
                writer.write(byte: 2)
                writer.write(bytes: member.bytes)
            case .setSettings(let settings):
                writer.write(byte: 3)
                writer.write(varint: settings.messagesPerMinute)
                writer.write(varint: settings.maxMessageBytes)
                writer.write(byte: settings.isPublic ? 1 : 0)
            case .join(.publicJoin(nil)):
                writer.write(byte: 4)
            case .join(.publicJoin(let admission?)):
                writer.write(byte: 12)
                writer.write(bytes: admission.joiner.bytes)
                writer.write(bytes: admission.admitter.bytes)
                writer.write(varint: admission.admittedAt)
                writer.write(varint: admission.usesSeen)
            case .join(.invalidToken):
                writer.write(byte: 5)
            case .join(.token(let grant, let admission)):
                writer.write(byte: admission == nil ? 6 : 11)
                writer.write(bytes: grant.conversation.bytes)
                writer.write(byte: grant.permission.rawValue)
                writer.write(bytes: grant.issuer.bytes)
                writer.write(varint: UInt64(grant.tokenID.count))
                writer.write(bytes: grant.tokenID)
                // UInt64.max wraps to "never", which judges the same (no timestamp is later).
                writer.write(varint: grant.expiresAt.map { $0 &+ 1 } ?? 0)
                writer.write(varint: grant.useLimit.map { UInt64($0) + 1 } ?? 0)
                if let admission {
                    writer.write(bytes: admission.joiner.bytes)
                    writer.write(bytes: admission.admitter.bytes)
                    writer.write(varint: admission.admittedAt)
                    writer.write(varint: admission.usesSeen)
                }
            case .createLink(let record):
                writer.write(byte: 7)
                writer.write(varint: UInt64(record.tokenID.count))
                writer.write(bytes: record.tokenID)
                writer.write(byte: record.permission.rawValue)
                writer.write(varint: record.expiresAt.map { $0 &+ 1 } ?? 0) // as for grants
                writer.write(varint: record.useLimit.map { UInt64($0) + 1 } ?? 0)
                writeString(record.label, into: &writer)
                if let invitee = record.invitee {
                    writer.write(byte: 1)
                    writer.write(bytes: invitee.bytes)
                } else {
                    writer.write(byte: 0)
                }
                // Version 3: the invitation's token, length-prefixed (0: none).
                writer.write(varint: UInt64(record.token?.count ?? 0))
                writer.write(bytes: record.token ?? [])
                // Version 5: the short code, as a length-prefixed lookup (0: none) and sealed token.
                writer.write(varint: UInt64(record.code?.lookup.count ?? 0))
                if let code = record.code {
                    writer.write(bytes: code.lookup)
                    writer.write(varint: UInt64(code.sealedToken.count))
                    writer.write(bytes: code.sealedToken)
                }
            case .revokeLink(let tokenID):
                writer.write(byte: 8)
                writer.write(varint: UInt64(tokenID.count))
                writer.write(bytes: tokenID)
            case .declineInvite(let tokenID):
                writer.write(byte: 9)
                writer.write(varint: UInt64(tokenID.count))
                writer.write(bytes: tokenID)
            case .requestAccess(let permission, let note):
                writer.write(byte: 10)
                writer.write(byte: permission.rawValue)
                writeString(note, into: &writer)
            }
        }
        let exclusions = excluded.sorted { $0.key < $1.key }
        writer.write(varint: UInt64(exclusions.count))
        let reasons = ExclusionReason.allCases
        for (id, reason) in exclusions {
            id.encode(into: &writer)
            writer.write(byte: UInt8(reasons.firstIndex(of: reason) ?? 0))
        }
        writeClock(clock, into: &writer)
        let authors = latestTimestamp.keys.sorted()
        writer.write(varint: UInt64(authors.count))
        for author in authors {
            writer.write(bytes: author.bytes)
            writer.write(varint: latestTimestamp[author] ?? 0)
            let window = recentPosts[author] ?? []
            writer.write(varint: UInt64(window.count))
            for time in window { writer.write(varint: time) }
        }
        let forked = equivocators.sorted { $0.key < $1.key }
        writer.write(varint: UInt64(forked.count))
        for (author, point) in forked {
            writer.write(bytes: author.bytes)
            writer.write(varint: point)
        }
        return writer.bytes
    }

    /// Loads a snapshot made by ``encodedSnapshot()``. Untrusted input throws; it never traps.
    public init(snapshot bytes: [UInt8], id: ConversationID, localReplica: ReplicaID,
                verifyInvite: @escaping InviteVerifier,
                verifyAdmission: @escaping AdmissionVerifier = { _ in nil }) throws(DocumentError) {
        self.init(id: id, localReplica: localReplica, verifyInvite: verifyInvite, verifyAdmission: verifyAdmission)
        do {
            var reader = ByteReader(bytes)
            let magic = Array(try reader.readBytes(3))
            guard magic.count == 3, Array(magic[0 ..< 2]) == Self.snapshotMagicPrefix,
                  (1 ... Self.snapshotVersion).contains(magic[2]) else {
                throw DocumentError.malformedSnapshot("not a conversation snapshot")
            }
            let version = magic[2]
            document = try ConversationDocument(snapshot: &reader, localReplica: localReplica)
            var ops: [GovernanceOp] = []
            for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 4)) {
                let opID = try OpID.decode(from: &reader)
                let cut = try readClock(&reader)
                let timestamp = try reader.readVarint()
                let kind: GovernanceOp.Kind
                switch try reader.readByte() {
                case 0:
                    let title = try readString(&reader)
                    kind = .genesis(title: title, isPublic: try reader.readByte() == 1)
                case 1:
                    let member = try readReplica(&reader)
                    guard let permission = Permission(rawValue: try reader.readByte()) else {
                        throw DocumentError.malformedSnapshot("permission")
                    }
                    kind = .setPermission(member: member, permission: permission)
                case 2:
                    kind = .removeMember(member: try readReplica(&reader))
                case 3:
                    kind = .setSettings(ConversationSettings(messagesPerMinute: try reader.readVarint32(),
                                                             maxMessageBytes: try reader.readVarint32(),
                                                             isPublic: try reader.readByte() == 1))
                case 4: kind = .join(.publicJoin(admission: nil))
                case 12 where version >= 6:
                    kind = .join(.publicJoin(admission: JoinAdmission(
                        conversation: id, joiner: try readReplica(&reader), tokenID: JoinAdmission.publicTokenID,
                        admitter: try readReplica(&reader), admittedAt: try reader.readVarint(),
                        usesSeen: try reader.readVarint32())))
                case 5: kind = .join(.invalidToken)
                case let tag where tag == 6 || (tag == 11 && version >= 3):
                    guard let conversation = ConversationID(bytes: try reader.readBytes(32)),
                          let permission = Permission(rawValue: try reader.readByte()) else {
                        throw DocumentError.malformedSnapshot("grant")
                    }
                    let issuer = try readReplica(&reader)
                    let tokenID = Array(try reader.readBytes(try reader.readCount(limit: 64)))
                    let expires = try reader.readVarint()
                    let limit = try reader.readVarint()
                    guard limit <= UInt64(UInt32.max) + 1 else { throw DocumentError.malformedSnapshot("use limit") }
                    let grant = InviteGrant(conversation: conversation, permission: permission, issuer: issuer,
                                            tokenID: tokenID, expiresAt: expires == 0 ? nil : expires - 1,
                                            useLimit: limit == 0 ? nil : UInt32(limit - 1))
                    var admission: JoinAdmission?
                    if tag == 11 {
                        admission = JoinAdmission(conversation: conversation, joiner: try readReplica(&reader),
                                                  tokenID: tokenID, admitter: try readReplica(&reader),
                                                  admittedAt: try reader.readVarint(), usesSeen: try reader.readVarint32())
                    }
                    kind = .join(.token(grant, admission: admission))
                case 7 where version >= 2:
                    let tokenID = Array(try reader.readBytes(try reader.readCount(limit: 64)))
                    guard let permission = Permission(rawValue: try reader.readByte()) else {
                        throw DocumentError.malformedSnapshot("link permission")
                    }
                    let expires = try reader.readVarint()
                    let limit = try reader.readVarint()
                    guard limit <= UInt64(UInt32.max) + 1 else { throw DocumentError.malformedSnapshot("use limit") }
                    let label = try readString(&reader)
                    var invitee: ReplicaID?
                    switch try reader.readByte() {
                    case 0: invitee = nil
                    case 1: invitee = try readReplica(&reader)
                    default: throw DocumentError.malformedSnapshot("invitee flag")
                    }
                    var token: [UInt8]?
                    if version >= 3 {
                        let count = try reader.readCount(limit: 64 << 10)
                        if count > 0 { token = Array(try reader.readBytes(count)) }
                    }
                    var code: InviteCodeRecord?
                    if version >= 5 {
                        let lookupCount = try reader.readCount(limit: InviteCodeRecord.lookupBytes)
                        if lookupCount > 0 {
                            guard lookupCount == InviteCodeRecord.lookupBytes else { throw DocumentError.malformedSnapshot("code lookup") }
                            let lookup = Array(try reader.readBytes(lookupCount))
                            let sealed = Array(try reader.readBytes(try reader.readCount(limit: InviteCodeRecord.maxSealedBytes)))
                            code = InviteCodeRecord(lookup: lookup, sealedToken: sealed)
                        }
                    }
                    kind = .createLink(InviteRecord(tokenID: tokenID, permission: permission,
                                                    expiresAt: expires == 0 ? nil : expires - 1,
                                                    useLimit: limit == 0 ? nil : UInt32(limit - 1), label: label,
                                                    invitee: invitee, token: token, code: code))
                case 8 where version >= 2:
                    kind = .revokeLink(tokenID: Array(try reader.readBytes(try reader.readCount(limit: 64))))
                case 9 where version >= 2:
                    kind = .declineInvite(tokenID: Array(try reader.readBytes(try reader.readCount(limit: 64))))
                case 10 where version >= 2:
                    guard let permission = Permission(rawValue: try reader.readByte()) else {
                        throw DocumentError.malformedSnapshot("requested permission")
                    }
                    kind = .requestAccess(permission: permission, note: try readString(&reader))
                default:
                    throw DocumentError.malformedSnapshot("governance kind")
                }
                ops.append(GovernanceOp(id: opID, kind: kind, cut: cut, timestamp: timestamp))
            }
            governanceOps = ops
            governance = GovernanceResolution(resolving: ops)
            let reasons = ExclusionReason.allCases
            for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 34)) {
                let opID = try OpID.decode(from: &reader)
                let index = Int(try reader.readByte())
                guard index < reasons.count else { throw DocumentError.malformedSnapshot("exclusion reason") }
                excluded[opID] = reasons[index]
            }
            clock = try readClock(&reader)
            for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 33)) {
                let author = try readReplica(&reader)
                latestTimestamp[author] = try reader.readVarint()
                var window: [UInt64] = []
                for _ in 0 ..< (try reader.readCount(limit: reader.remaining)) { window.append(try reader.readVarint()) }
                recentPosts[author] = window
            }
            if version >= 4 {
                for _ in 0 ..< (try reader.readCount(limit: reader.remaining / 33)) {
                    let author = try readReplica(&reader)
                    equivocators[author] = try reader.readVarint32()
                }
            }
            guard reader.isAtEnd else { throw DocumentError.malformedSnapshot("trailing bytes") }
        } catch let error as DocumentError {
            throw error
        } catch let error as BinaryDecodingError {
            throw .malformedSnapshot(error.description)
        } catch {
            throw .malformedSnapshot("\(error)")
        }
    }
}
