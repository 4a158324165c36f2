import ChatCore

/// Operation tags (version 1). New operations get new tags (appended, never renumbered); an
/// unknown tag is refused.
enum OperationTag: UInt8 {
    case genesis = 1, postMessage, insertText, deleteText, deleteMessage, setProfile, setPermission
    case removeMember, setSettings, join
    case createLink = 11, revokeLink = 12, declineInvite = 13, requestAccess = 14
    /// A join carrying the admitting member's signed admission (a plain `join` carries none).
    case admittedJoin = 15
}

/// Flags of a `createLink` record: which optional fields follow.
private enum LinkFlags {
    static let expiresAt: UInt8 = 1, useLimit: UInt8 = 2, invitee: UInt8 = 4, token: UInt8 = 8, code: UInt8 = 16
    static let all: UInt8 = 31
}

/// Encodes and decodes ``ConversationOp``s inside a batch.
///
/// An op id is written as (replica number, counter) against the batch's replica table; an
/// optional op id as (number + 1, counter) with 0 meaning none.
enum OperationCodec {
    static func encode(_ op: ConversationOp, into writer: inout ByteWriter, table: inout ReplicaTableBuilder) {
        func opID(_ id: OpID) {
            writer.write(varint: table.number(of: id.replica))
            writer.write(varint: id.counter)
        }
        func optionalOpID(_ id: OpID?) {
            guard let id else { writer.write(byte: 0); return }
            writer.write(varint: table.number(of: id.replica) + 1)
            writer.write(varint: id.counter)
        }
        switch op {
        case .genesis(let genesis):
            writer.write(byte: OperationTag.genesis.rawValue)
            writer.write(string: genesis.title)
            writer.write(bool: genesis.isPublic)
            writer.write(varint: UInt64(genesis.nonce.count))
            writer.write(bytes: genesis.nonce)
        case .postMessage(let post):
            writer.write(byte: OperationTag.postMessage.rawValue)
            optionalOpID(post.originLeft)
            optionalOpID(post.originRight)
            writer.write(scalars: post.body)
        case .insertText(let insert):
            writer.write(byte: OperationTag.insertText.rawValue)
            opID(insert.message)
            optionalOpID(insert.originLeft)
            optionalOpID(insert.originRight)
            writer.write(scalars: insert.text)
        case .deleteText(let delete):
            writer.write(byte: OperationTag.deleteText.rawValue)
            opID(delete.message)
            opID(delete.target)
            writer.write(varint: delete.count)
        case .deleteMessage(let message):
            writer.write(byte: OperationTag.deleteMessage.rawValue)
            opID(message)
        case .setProfile(let profile):
            writer.write(byte: OperationTag.setProfile.rawValue)
            let flags: UInt8 = (profile.avatar != nil ? 1 : 0) | (profile.colour != nil ? 2 : 0)
                | (profile.status != nil ? 4 : 0) | (profile.statusEmoji != nil ? 8 : 0)
            writer.write(byte: flags)
            writer.write(string: profile.displayName)
            if let avatar = profile.avatar { writer.write(string: avatar) }
            if let colour = profile.colour { writer.write(varint: colour) }
            if let status = profile.status { writer.write(string: status) }
            if let emoji = profile.statusEmoji { writer.write(string: emoji) }
        case .setPermission(let member, let permission):
            writer.write(byte: OperationTag.setPermission.rawValue)
            writer.write(varint: table.number(of: member))
            writer.write(byte: permission.rawValue)
        case .removeMember(let member):
            writer.write(byte: OperationTag.removeMember.rawValue)
            writer.write(varint: table.number(of: member))
        case .setSettings(let settings):
            writer.write(byte: OperationTag.setSettings.rawValue)
            writer.write(varint: settings.messagesPerMinute)
            writer.write(varint: settings.maxMessageBytes)
            writer.write(bool: settings.isPublic)
        case .join(let token, let admission) where admission.isEmpty:
            writer.write(byte: OperationTag.join.rawValue)
            writer.write(varint: UInt64(token.count))
            writer.write(bytes: token)
        case .join(let token, let admission):
            // Token, then admission (each length-prefixed).
            writer.write(byte: OperationTag.admittedJoin.rawValue)
            writer.write(varint: UInt64(token.count))
            writer.write(bytes: token)
            writer.write(varint: UInt64(admission.count))
            writer.write(bytes: admission)
        case .createLink(let record):
            // tokenID (length-prefixed, 16), permission, flags, [expiresAt], [useLimit], label, [invitee],
            // [token (length-prefixed)], [code: lookup (32), sealed token (length-prefixed)].
            writer.write(byte: OperationTag.createLink.rawValue)
            writer.write(varint: UInt64(record.tokenID.count))
            writer.write(bytes: record.tokenID)
            writer.write(byte: record.permission.rawValue)
            let flags: UInt8 = (record.expiresAt != nil ? LinkFlags.expiresAt : 0)
                | (record.useLimit != nil ? LinkFlags.useLimit : 0) | (record.invitee != nil ? LinkFlags.invitee : 0)
                | (record.token != nil ? LinkFlags.token : 0) | (record.code != nil ? LinkFlags.code : 0)
            writer.write(byte: flags)
            if let expiresAt = record.expiresAt { writer.write(varint: expiresAt) }
            if let useLimit = record.useLimit { writer.write(varint: useLimit) }
            writer.write(string: record.label)
            if let invitee = record.invitee { writer.write(varint: table.number(of: invitee)) }
            if let token = record.token {
                writer.write(varint: UInt64(token.count))
                writer.write(bytes: token)
            }
            if let code = record.code {
                writer.write(bytes: code.lookup)
                writer.write(varint: UInt64(code.sealedToken.count))
                writer.write(bytes: code.sealedToken)
            }
        case .revokeLink(let tokenID):
            writer.write(byte: OperationTag.revokeLink.rawValue)
            writer.write(varint: UInt64(tokenID.count))
            writer.write(bytes: tokenID)
        case .declineInvite(let tokenID):
            writer.write(byte: OperationTag.declineInvite.rawValue)
            writer.write(varint: UInt64(tokenID.count))
            writer.write(bytes: tokenID)
        case .requestAccess(let permission, let note):
            writer.write(byte: OperationTag.requestAccess.rawValue)
            writer.write(byte: permission.rawValue)
            writer.write(string: note)
        }
    }

    static func decode(from reader: inout WireReader, table: inout ReplicaTableReader) throws(WireError) -> ConversationOp {
        func opID() throws(WireError) -> OpID {
            let replica = try table.replica(try reader.varint())
            return OpID(replica: replica, counter: try reader.varint32())
        }
        func optionalOpID() throws(WireError) -> OpID? {
            let number = try reader.varint()
            guard number > 0 else { return nil }
            let replica = try table.replica(number - 1)
            return OpID(replica: replica, counter: try reader.varint32())
        }
        func tokenID(_ field: String) throws(WireError) -> [UInt8] {
            let count = try reader.count(field, limit: InviteRecord.tokenIDBytes)
            guard count == InviteRecord.tokenIDBytes else { throw .invalidValue("\(field) must be \(InviteRecord.tokenIDBytes) bytes") }
            return Array(try reader.bytes(count))
        }
        func permission() throws(WireError) -> Permission {
            let raw = try reader.byte()
            guard let permission = Permission(rawValue: raw) else { throw .invalidValue("permission level \(raw)") }
            return permission
        }
        let limits = reader.limits
        let raw = try reader.byte()
        guard let tag = OperationTag(rawValue: raw) else { throw .unknownOperation(raw) }
        switch tag {
        case .genesis:
            let title = try reader.string("title", limit: limits.maxStringBytes)
            let isPublic = try reader.bool("isPublic")
            let nonce = Array(try reader.bytes(try reader.count("nonce", limit: 64)))
            return .genesis(Genesis(title: title, isPublic: isPublic, nonce: nonce))
        case .postMessage:
            let left = try optionalOpID()
            let right = try optionalOpID()
            let body = try reader.scalars("message body", limit: limits.maxTextBytes)
            return .postMessage(PostMessage(originLeft: left, originRight: right, body: body))
        case .insertText:
            let message = try opID()
            let left = try optionalOpID()
            let right = try optionalOpID()
            let text = try reader.scalars("inserted text", limit: limits.maxTextBytes)
            guard !text.isEmpty else { throw .invalidValue("empty text insert") }
            return .insertText(InsertText(message: message, originLeft: left, originRight: right, text: text))
        case .deleteText:
            let message = try opID()
            let target = try opID()
            let count = try reader.varint32()
            guard count > 0 else { throw .invalidValue("empty text delete") }
            return .deleteText(DeleteText(message: message, target: target, count: count))
        case .deleteMessage:
            return .deleteMessage(message: try opID())
        case .setProfile:
            let flags = try reader.byte()
            guard flags < 16 else { throw .nonCanonical("unknown profile flags") }
            let name = try reader.string("display name", limit: limits.maxStringBytes)
            let avatar = flags & 1 != 0 ? try reader.string("avatar", limit: limits.maxStringBytes) : nil
            var colour: UInt32?
            if flags & 2 != 0 {
                let value = try reader.varint32()
                guard value <= 0xFF_FFFF else { throw .invalidValue("colour is not 0xRRGGBB") }
                colour = value
            }
            let status = flags & 4 != 0 ? try reader.string("status", limit: limits.maxStringBytes) : nil
            let emoji = flags & 8 != 0 ? try reader.string("status emoji", limit: limits.maxStringBytes) : nil
            return .setProfile(Profile(displayName: name, avatar: avatar, colour: colour, status: status, statusEmoji: emoji))
        case .setPermission:
            let member = try table.replica(try reader.varint())
            let raw = try reader.byte()
            guard let permission = Permission(rawValue: raw) else { throw .invalidValue("permission level \(raw)") }
            return .setPermission(member: member, permission: permission)
        case .removeMember:
            return .removeMember(member: try table.replica(try reader.varint()))
        case .setSettings:
            let perMinute = try reader.varint32()
            let maxBytes = try reader.varint32()
            let isPublic = try reader.bool("isPublic")
            return .setSettings(ConversationSettings(messagesPerMinute: perMinute, maxMessageBytes: maxBytes, isPublic: isPublic))
        case .join:
            let token = Array(try reader.bytes(try reader.count("invite token", limit: limits.maxTokenBytes)))
            return .join(inviteToken: token)
        case .admittedJoin:
            let token = Array(try reader.bytes(try reader.count("invite token", limit: limits.maxTokenBytes)))
            let admission = Array(try reader.bytes(try reader.count("join admission", limit: SignedAdmission.maxBytes)))
            // One encoding per operation: a join without an admission uses the plain tag.
            guard !admission.isEmpty else { throw .nonCanonical("an admitted join with an empty admission") }
            return .join(inviteToken: token, admission: admission)
        case .createLink:
            let id = try tokenID("link token id")
            let level = try permission()
            let flags = try reader.byte()
            guard flags & ~LinkFlags.all == 0 else { throw .nonCanonical("unknown link flags") }
            let expiresAt = flags & LinkFlags.expiresAt != 0 ? try reader.varint() : nil
            let useLimit = flags & LinkFlags.useLimit != 0 ? try reader.varint32() : nil
            let label = try reader.string("link label", limit: InviteRecord.maxLabelBytes)
            let invitee = flags & LinkFlags.invitee != 0 ? try table.replica(try reader.varint()) : nil
            let token = flags & LinkFlags.token != 0
                ? Array(try reader.bytes(try reader.count("invitation token", limit: limits.maxTokenBytes))) : nil
            var code: InviteCodeRecord?
            if flags & LinkFlags.code != 0 {
                let lookup = Array(try reader.bytes(InviteCodeRecord.lookupBytes))
                let sealed = Array(try reader.bytes(try reader.count("sealed invite token", limit: InviteCodeRecord.maxSealedBytes)))
                code = InviteCodeRecord(lookup: lookup, sealedToken: sealed)
            }
            return .createLink(InviteRecord(tokenID: id, permission: level, expiresAt: expiresAt, useLimit: useLimit,
                                            label: label, invitee: invitee, token: token, code: code))
        case .revokeLink:
            return .revokeLink(tokenID: try tokenID("revoked token id"))
        case .declineInvite:
            return .declineInvite(tokenID: try tokenID("declined token id"))
        case .requestAccess:
            let level = try permission()
            let note = try reader.string("access request note", limit: SharingLimits.maxNoteBytes)
            return .requestAccess(permission: level, note: note)
        }
    }
}

extension ConversationOp {
    /// The bytes this operation adds to a batch: its encoding, plus 32 for each other replica it
    /// names (a batch lists each once in its replica table; counted here as if none were listed yet).
    /// - Complexity: O(size of the operation).
    public var encodedByteCount: Int {
        var writer = ByteWriter()
        var table = ReplicaTableBuilder(author: Self.placeholderAuthor)
        OperationCodec.encode(self, into: &writer, table: &table)
        return writer.bytes.count + (table.replicas.count - 1) * ReplicaID.byteCount
    }

    /// An author no operation names (all zeros), so that every replica an operation names is counted.
    private static let placeholderAuthor: ReplicaID = {
        guard let id = ReplicaID(bytes: [UInt8](repeating: 0, count: ReplicaID.byteCount)) else {
            preconditionFailure("32 bytes make a replica id") // SAFETY: constant input
        }
        return id
    }()
}
