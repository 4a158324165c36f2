import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// What the first input byte, modulo ``selectorSlots``, feeds the rest of the input to; the slots
/// no case uses are ignored. Stored finds and seeds name their decoder by this byte, so a new
/// decoder takes the next free slot and existing cases are never renumbered.
///
/// The libFuzzer harness (`Fuzz/`) and the regression tests that replay `Fixtures/fuzz` share
/// this dispatch.
public enum FuzzTarget: UInt8, CaseIterable, Sendable {
    /// `SignedBatch(decoding:limits:)`.
    case signedBatch = 0
    /// `InviteToken(decoding:)`.
    case inviteToken = 1
    /// A frame as read off a stream: `FrameHeader` from the first 8 bytes, then
    /// `DataFrame(type:body:)` on the rest (every data frame type), then every batch a batches
    /// frame carries and every update an ephemeral frame carries.
    case frame = 2
    /// `SequenceCRDT<Unicode.Scalar>(decoding:)` beside `SequenceStateChecker` and the
    /// text-first load completed (all must agree), then re-encoding and decoding again.
    case sequenceState = 3
    /// `ConversationDocument(snapshot:localReplica:)`, then re-encoding and decoding again.
    case snapshot = 4
    /// `BatchAuthenticator.authenticate(_:)` on bytes as received (signature included).
    case authenticate = 5
    /// The input is a batch's signing bytes: sign them with the fixture key (alice, seed 0x01…)
    /// and authenticate, so mutated batches by alice reach the code after signature checking.
    case signedByAlice = 6
    /// `Conversation(snapshot:id:localReplica:verifyInvite:)` with ``FuzzFixtures/conversation`` and
    /// the real token and admission verifiers (``ConversationInputs``), then re-encoding and decoding again.
    case conversationSnapshot = 7
    /// `SignedEphemeral(decoding:)` (structure only; the signature is the caller's to check).
    case signedEphemeral = 8
    /// A session frame as read off a stream: `FrameHeader` from the first 8 bytes, then
    /// `SessionFrame(type:body:)` on the rest, then re-encoding and `SessionFrame(decoding:)`.
    case sessionFrame = 9
    /// The bytes a peer sends to a listening `SessionStateMachine` (``FuzzFixtures/startedListener()``),
    /// fed to `receive(_:now:)` in one piece.
    case sessionListener = 10
    /// An edit script on two replicas of a text (``SequenceEditScript``): local typing and
    /// deleting around cursors, deliveries between them, convergence and a reload checked.
    case sequenceEdits = 11

    /// Room for new decoders without changing what existing inputs mean.
    public static let selectorSlots: UInt8 = 16

    /// nil for a slot no decoder uses yet.
    public init?(selector: UInt8) {
        self.init(rawValue: selector % Self.selectorSlots)
    }
}

/// Fixed identities and values the harness uses.
public enum FuzzFixtures {
    /// The fixture author of Fixtures/wire/v2 (`TestKeys.alice` in the tests). Test key only.
    public static let alice: SigningKey = {
        do { return try SigningKey(seed: Array(repeating: 0x01, count: SigningKey.seedByteCount)) } catch {
            preconditionFailure("a 32-byte seed is valid") // SAFETY: constant input, not fuzz data
        }
    }()

    /// The replica that loads snapshots.
    public static let localReplica = ReplicaID(testValue: 0xF022)

    /// The conversation snapshots (slot 7) and sessions (slot 10) are for: 32 bytes of 0xC0.
    public static let conversation: ConversationID = {
        guard let id = ConversationID(bytes: Array(repeating: 0xC0, count: ConversationID.byteCount)) else {
            preconditionFailure("32 bytes make a conversation id") // SAFETY: constant input, not fuzz data
        }
        return id
    }()

    /// The listener's session settings: the fixture conversation, default limits and budget.
    public static let sessionConfiguration = SessionConfiguration(conversations: [conversation])

    /// The listening session of slot 10, started at time zero: identity ``alice``, admits every peer
    /// to what it asks for, and draws its ephemeral key and nonce from a fixed seed, so a seed
    /// recorded from a real dialer (a whole handshake) replays to an established session.
    public static func startedListener() -> SessionStateMachine {
        var randomness = SeededGenerator(seed: 0x5E55_1011)
        var session = SessionStateMachine(role: .listener, identity: alice, configuration: sessionConfiguration,
                                          admission: { request in .admit(conversations: request.conversations) },
                                          randomness: &randomness)
        _ = session.start(now: .zero)
        return session
    }
}

/// Feeds one input to the decoder its first byte selects. Typed errors are the expected outcome
/// for almost every input; a trap (overflow, out-of-bounds index, precondition) is a bug.
public func fuzzOne(_ input: [UInt8]) {
    guard let selector = input.first, let target = FuzzTarget(selector: selector) else { return }
    let rest = Array(input.dropFirst())
    switch target {
    case .signedBatch:
        if let batch = try? SignedBatch(decoding: rest) {
            _ = batch.content.operationIDs
            _ = batch.content.signingBytes()
        }
    case .inviteToken:
        if let token = try? InviteToken(decoding: rest) {
            _ = token.content.signingBytes()
        }
    case .frame:
        guard let header = try? FrameHeader(decoding: rest.prefix(FrameHeader.byteCount)) else { return }
        _ = header.bytes
        guard let frame = try? DataFrame(type: header.type, body: Array(rest.dropFirst(FrameHeader.byteCount))) else {
            return
        }
        _ = frame.encoded()
        switch frame {
        case .batches(_, let batches):
            for batch in batches { _ = try? SignedBatch(decoding: batch) }
        case .ephemeral(_, let updates):
            for update in updates { _ = try? SignedEphemeral(decoding: update) }
        case .admission(_, let admission):
            if let signed = try? SignedAdmission(decoding: admission) { _ = SignedAdmission(content: signed.content) { _ in [UInt8](repeating: 0, count: 64) } }
        case .invitation(_, let token):
            _ = try? InviteToken(decoding: token)
        case .clock, .peers, .admissionRefused, .want:
            break
        }
    case .sequenceState:
        let decoded = try? SequenceCRDT<Unicode.Scalar>(decoding: rest)
        // Snapshots keep message bodies encoded, checked by the checker alone: it must accept
        // exactly what the decoder accepts.
        var checked = ByteReader(rest)
        var checker = SequenceStateChecker()
        let passes = (try? checker.check(&checked)) != nil && checked.isAtEnd
        precondition(passes == (decoded != nil), "the state checker and the decoder disagree")
        // Reading the text alone (compact message bodies) must give what a full load shows.
        let visible = try? SequenceCRDT<Unicode.Scalar>.visibleElements(ofState: rest)
        // A text-first load shows the same text and completes exactly when the full load succeeds.
        if var textFirst = try? SequenceCRDT<Unicode.Scalar>(decodingTextFirst: rest) {
            let shown = textFirst.elements
            let completes = (try? textFirst.completeLoad()) != nil
            precondition(completes == (decoded != nil), "the text-first load and the full load disagree")
            precondition(decoded.map { $0.elements == shown && $0.clock == textFirst.clock } ?? true,
                         "the text-first load differs from the full load")
        } else {
            precondition(decoded == nil, "the text-first load refused a state the full load accepts")
        }
        if let sequence = decoded {
            precondition(visible == sequence.elements, "the text read alone differs from the loaded sequence's")
            _ = sequence.clock
            _ = try? SequenceCRDT<Unicode.Scalar>(decoding: sequence.encodedState())
        }
    case .snapshot:
        if let document = try? ConversationDocument(snapshot: rest, localReplica: FuzzFixtures.localReplica) {
            _ = document.orderedMessages.map(\.body.text) // compact bodies' text is read from their states
            _ = try? ConversationDocument(snapshot: document.encodedSnapshot(), localReplica: FuzzFixtures.localReplica)
        }
    case .authenticate:
        _ = BatchAuthenticator.authenticate(rest)
    case .signedByAlice:
        let signed = rest + FuzzFixtures.alice.sign(rest).bytes
        _ = BatchAuthenticator.authenticate(signed)
    case .conversationSnapshot:
        let load = { (bytes: [UInt8]) throws(DocumentError) -> Conversation in
            try Conversation(snapshot: bytes, id: FuzzFixtures.conversation, localReplica: FuzzFixtures.localReplica,
                             verifyInvite: ConversationInputs.verifyInvite, verifyAdmission: ConversationInputs.verifyAdmission)
        }
        if let conversation = try? load(rest) {
            _ = conversation.document.orderedMessages.map(\.body.text)
            _ = conversation.links
            _ = conversation.accessRequests
            _ = try? load(conversation.encodedSnapshot())
        }
    case .signedEphemeral:
        if let ephemeral = try? SignedEphemeral(decoding: rest) {
            _ = ephemeral.update.signingBytes()
            _ = ephemeral.signature
        }
    case .sessionFrame:
        guard let header = try? FrameHeader(decoding: rest.prefix(FrameHeader.byteCount)) else { return }
        guard let frame = try? SessionFrame(type: header.type, body: Array(rest.dropFirst(FrameHeader.byteCount))) else {
            return
        }
        _ = try? SessionFrame(decoding: frame.encoded())
    case .sessionListener:
        var session = FuzzFixtures.startedListener()
        _ = session.receive(rest, now: .milliseconds(1))
        _ = session.peer
    case .sequenceEdits:
        SequenceEditScript.run(rest)
    }
}
