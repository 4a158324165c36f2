import ChatCore
import ChatCrypto
import ChatWire

/// Which side of a connection a session plays: the dialer sends the hello, the listener answers.
public typealias SessionRole = SessionTranscript.Role

/// Per-peer ingress limits: at most `maxFrames` frames and `maxBytes` bytes per `window`.
public struct IngressBudget: Sendable, Hashable {
    /// The length of one accounting window.
    public var window: Duration
    /// Frames allowed per window.
    public var maxFrames: Int
    /// Bytes allowed per window.
    public var maxBytes: Int

    /// A budget; the defaults allow 2,000 frames and 16 MiB per second.
    public init(window: Duration = .seconds(1), maxFrames: Int = 2_000, maxBytes: Int = 16 << 20) {
        self.window = window
        self.maxFrames = maxFrames
        self.maxBytes = maxBytes
    }
}

/// Everything a session needs to know about this side, apart from its keys.
public struct SessionConfiguration: Sendable {
    /// The versions this build speaks. Version 5: batches name their causal past by hash
    /// (``BatchDependency``) instead of carrying a vector clock, and data frame 8 (want) asks for
    /// batches by hash; version 4 batches do not decode here. Version 4: short invite codes (a request may carry a code
    /// lookup and be answered with a resolved frame; link records may carry a code), which
    /// version 3 nodes would refuse as malformed: the two do not connect rather than disagree.
    /// Version 3: a private handshake (identities, conversations and
    /// tokens travel sealed; see ``SessionStateMachine``), which versions 1 and 2 cannot follow.
    /// Version 2: token joins carry a signed admission
    /// (operation tag 15), and data frames 5 (admission) and 6 (invitation) exist; version 1
    /// peers cannot judge or decode those, so the two do not connect.
    public static let currentVersions: [UInt16] = [5]

    /// Protocol versions this side speaks.
    public var versions: [UInt16]
    /// The conversations this side wants to sync with the peer.
    public var conversations: [ConversationID]
    /// The exact bytes of an invite token, when this side joins without being a member yet.
    public var inviteToken: [UInt8]?
    /// The lookup hash of a short invite code to resolve (a dialer asking for nothing else): the
    /// listener answers with the link's sealed token and the session ends.
    public var codeLookup: [UInt8]?
    /// How long the handshake may take before the session is closed.
    public var handshakeTimeout: Duration
    /// How often an established session sends a keep-alive ping.
    public var keepaliveInterval: Duration
    /// How long an established session may go without receiving anything.
    public var idleTimeout: Duration
    /// Per-peer frame and byte budgets.
    public var budget: IngressBudget
    /// The largest frame accepted before the session is established.
    public var maxHandshakeFrameBytes: Int
    /// How long the shell should refuse a peer that sent garbage or flooded.
    public var backOff: Duration
    /// Decoding limits.
    public var limits: WireLimits

    /// A configuration with the product defaults: ``currentVersions``, 10 s handshake, 15 s keep-alive, 45 s idle
    /// timeout, 64 KiB handshake frames, 30 s back-off.
    public init(versions: [UInt16] = SessionConfiguration.currentVersions, conversations: [ConversationID], inviteToken: [UInt8]? = nil,
                handshakeTimeout: Duration = .seconds(10), keepaliveInterval: Duration = .seconds(15),
                idleTimeout: Duration = .seconds(45), budget: IngressBudget = IngressBudget(),
                maxHandshakeFrameBytes: Int = 64 << 10, backOff: Duration = .seconds(30),
                limits: WireLimits = .default) {
        self.versions = versions
        self.conversations = conversations
        self.inviteToken = inviteToken
        self.handshakeTimeout = handshakeTimeout
        self.keepaliveInterval = keepaliveInterval
        self.idleTimeout = idleTimeout
        self.budget = budget
        self.maxHandshakeFrameBytes = maxHandshakeFrameBytes
        self.backOff = backOff
        self.limits = limits
    }
}

/// What the admission policy is asked once the peer has proven its key.
public struct AdmissionRequest: Sendable, Hashable {
    /// The peer's authenticated long-term key.
    public var peer: PublicKey
    /// The conversations the peer asked for.
    public var conversations: [ConversationID]
    /// The invite token bytes the peer presented, if any (not yet verified: the policy checks them).
    public var inviteToken: [UInt8]?
    /// The lookup hash of a short invite code the peer wants resolved, if any.
    public var codeLookup: [UInt8]?

    /// A request.
    public init(peer: PublicKey, conversations: [ConversationID], inviteToken: [UInt8]?, codeLookup: [UInt8]? = nil) {
        self.peer = peer
        self.conversations = conversations
        self.inviteToken = inviteToken
        self.codeLookup = codeLookup
    }
}

/// The admission policy's answer.
public enum AdmissionDecision: Sendable, Hashable {
    /// The peer may sync these conversations (a subset of those it asked for).
    case admit(conversations: [ConversationID])
    /// The peer is refused with this reason, before any conversation data flows.
    case refuse(RefuseCode)
    /// The peer's code lookup names links: it gets their sealed tokens (at most
    /// ``SessionFrame/maxResolvedTokens``), and the session ends.
    case resolved(sealedTokens: [[UInt8]])
}

/// Decides whether an authenticated peer may join (a member, or a non-member with an acceptable invite).
public typealias AdmissionPolicy = @Sendable (AdmissionRequest) -> AdmissionDecision

/// The peer of an established session.
public struct SessionPeer: Sendable, Hashable {
    /// Its authenticated long-term key.
    public var key: PublicKey
    /// The negotiated protocol version.
    public var version: UInt16
    /// The conversations both sides agreed to sync.
    public var conversations: [ConversationID]
    /// The invite token bytes the peer presented in its hello (a joiner dialling a member), if any.
    public var inviteToken: [UInt8]?

    /// A peer description.
    public init(key: PublicKey, version: UInt16, conversations: [ConversationID], inviteToken: [UInt8]? = nil) {
        self.key = key
        self.version = version
        self.conversations = conversations
        self.inviteToken = inviteToken
    }
}

/// Timers a session asks its shell to run; the shell calls ``SessionStateMachine/timerFired(_:now:)``.
public enum SessionTimer: Sendable, Hashable {
    /// Closes the session if the handshake has not finished.
    case handshakeTimeout
    /// Sends a ping, or closes an idle session.
    case keepalive
}

/// Why a session ended. Stable ``code``s for counters and logs.
public enum SessionCloseReason: Error, Sendable, Hashable, CustomStringConvertible {
    /// We refused the peer (no common version, bad signature, not admitted, self connection).
    case refused(RefuseCode)
    /// The peer refused us or said goodbye.
    case refusedByPeer(RefuseCode)
    /// The peer sent bytes that do not decode.
    case malformed(WireError)
    /// The peer sent a valid frame where it is not allowed.
    case protocolViolation(String)
    /// A sealed frame failed to open (tampered, reordered, replayed or truncated).
    case decryptionFailed(SessionCryptoError)
    /// The peer exceeded its frame or byte budget.
    case flood
    /// The handshake did not finish in time.
    case handshakeTimeout
    /// Nothing arrived for longer than the idle timeout.
    case idleTimeout
    /// This side closed the session on purpose.
    case closedLocally(RefuseCode)

    /// A stable, machine-readable reason code.
    public var code: String {
        switch self {
        case .refused(let code): "refused_\(code.code)"
        case .refusedByPeer(let code): "refused_by_peer_\(code.code)"
        case .malformed: "malformed"
        case .protocolViolation: "protocol_violation"
        case .decryptionFailed: "decryption_failed"
        case .flood: "flood"
        case .handshakeTimeout: "handshake_timeout"
        case .idleTimeout: "idle_timeout"
        case .closedLocally: "closed_locally"
        }
    }

    /// The code sent to the peer in a refuse frame, or nil when nothing is sent (the peer left).
    var refuseCode: RefuseCode? {
        switch self {
        case .refused(let code), .closedLocally(let code): code
        case .refusedByPeer: nil
        case .malformed: .malformed
        case .protocolViolation: .protocolViolation
        case .decryptionFailed: .malformed
        case .flood: .flood
        case .handshakeTimeout, .idleTimeout: .timeout
        }
    }

    /// Whether the peer misbehaved, so that the shell should back off from it.
    var isOffence: Bool {
        switch self {
        case .malformed, .protocolViolation, .decryptionFailed, .flood: true
        case .refused(let code): code == .authenticationFailed
        case .refusedByPeer, .handshakeTimeout, .idleTimeout, .closedLocally: false
        }
    }

    /// One phrase for people.
    public var description: String {
        switch self {
        case .refused(let code): "refused the peer (\(code))"
        case .refusedByPeer(let code): "the peer refused or closed (\(code))"
        case .malformed(let error): "malformed frame: \(error)"
        case .protocolViolation(let reason): "protocol violation: \(reason)"
        case .decryptionFailed(let error): "sealed frame rejected: \(error)"
        case .flood: "the peer exceeded its frame or byte budget"
        case .handshakeTimeout: "the handshake timed out"
        case .idleTimeout: "the peer went silent"
        case .closedLocally(let code): "closed locally (\(code))"
        }
    }
}

/// What the shell must do for a session, in order.
public enum SessionAction: Sendable, Hashable {
    /// Write these bytes (one or more whole frames) to the connection.
    case send([UInt8])
    /// The peer proved its key and was admitted; the session is established.
    case authenticated(SessionPeer)
    /// A conversation-data frame from the authenticated peer, decrypted and decoded.
    case deliver(DataFrame)
    /// Call ``SessionStateMachine/timerFired(_:now:)`` with `timer` after `after`.
    case scheduleTimer(after: Duration, SessionTimer)
    /// The listener resolved this side's invite code to sealed tokens (the session ends next).
    case codeResolved([[UInt8]])
    /// Refuse new connections from this peer for this long (it sent garbage or flooded).
    case backOff(Duration)
    /// Close the connection; the session is over.
    case close(SessionCloseReason)
}

/// A call the session cannot carry out in its current phase (a programming error of the caller).
public enum SessionUsageError: Error, Sendable, Hashable {
    /// Data may be sent only once the session is established.
    case notEstablished
    /// The peer was not admitted to this conversation.
    case conversationNotAdmitted(ConversationID)
}

/// The sans-I/O state machine of one connection: mutual authentication, version negotiation, admission,
/// session keys, sealed frames, keep-alive and ingress flow control.
///
/// ```
/// dialer                                           listener
///   hello(versions, e, nonce) ─────────────────────▶  choose version, ee keys
///         ◀── helloReply(version, e, nonce), streamHeader, sealed identify(key, sign(listener, transcript))
///   verify, choose what to ask this peer for
///   streamHeader, sealed identify(key, sign(dialer, transcript)),
///   sealed request(conversations…, token) ──────────▶  verify, admit
///         ◀─────────────────────────────── sealed welcome(admitted)
///   established                                        established
/// ```
/// Keys come from an ephemeral X25519 exchange before anyone says who they are (in the spirit of Noise
/// XX and SIGMA-I): each long-term key and its signature over the transcript travel sealed, and so do
/// the conversations asked for, the invite token and the answer. An observer of the connection sees
/// versions, ephemeral keys, nonces, stream headers and sizes only. The listener reveals its key first
/// (as Noise XX's responder does); the dialer reveals its own, and what it wants, only to a listener
/// whose key it has verified, and asks it only for what its admission policy allows that listener.
///
/// Feed it bytes, timer expiries and local requests; it returns ``SessionAction``s and never touches a
/// socket, a clock or a random source of its own. A refused peer gets a `refuse` frame and the session
/// closes before any conversation data is sent or delivered.
///
/// - Note: The session's stream ciphers are reference types: a copy of this value shares them, so keep
///   one copy per connection (like a socket).
public struct SessionStateMachine: Sendable {
    /// This side's role.
    public let role: SessionRole
    private let identity: SigningKey
    private let configuration: SessionConfiguration
    private let admission: AdmissionPolicy
    private let ephemeral: SessionKeyPair
    private let nonce: [UInt8]
    private var state: State = .idle
    private var inbound = FrameAssembler()
    private var meter = BudgetMeter()
    private var lastReceived: Duration = .zero
    private var pingCounter: UInt64

    /// A session for `role` with identity `identity`; the ephemeral key, nonce and ping counter are drawn
    /// from `randomness` (a `SystemRandomNumberGenerator` in production, a seeded one in tests).
    public init(role: SessionRole, identity: SigningKey, configuration: SessionConfiguration,
                admission: @escaping AdmissionPolicy, randomness: inout some RandomNumberGenerator) {
        self.role = role
        self.identity = identity
        self.configuration = configuration
        self.admission = admission
        self.ephemeral = SessionKeyPair(using: &randomness)
        var nonce: [UInt8] = []
        nonce.reserveCapacity(SessionHello.nonceBytes)
        while nonce.count < SessionHello.nonceBytes {
            withUnsafeBytes(of: randomness.next().littleEndian) { nonce.append(contentsOf: $0) }
        }
        self.nonce = Array(nonce.prefix(SessionHello.nonceBytes))
        self.pingCounter = randomness.next()
    }

    /// The established peer, or nil before the handshake completes and after the session closed.
    public var peer: SessionPeer? {
        if case .established(let established) = state { return established.peer }
        return nil
    }

    /// Whether the session is over.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Starts the session: the dialer sends its hello; both sides arm the handshake timeout.
    public mutating func start(now: Duration) -> [SessionAction] {
        guard case .idle = state else { return [] }
        lastReceived = now
        var actions: [SessionAction] = [.scheduleTimer(after: configuration.handshakeTimeout, .handshakeTimeout)]
        switch role {
        case .dialer:
            let hello = SessionFrame.hello(ownHello()).encoded()
            actions.insert(.send(hello), at: 0)
            state = .awaitingHelloReply(hello: hello)
        case .listener:
            state = .awaitingHello
        }
        return actions
    }

    /// Bytes from the connection (any split: partial and several frames are fine).
    ///
    /// - Complexity: O(n) in the bytes given, plus the cryptography of each complete frame.
    public mutating func receive(_ bytes: [UInt8], now: Duration) -> [SessionAction] {
        switch state {
        case .idle, .closed: return []
        default: break
        }
        lastReceived = now
        guard meter.charge(frames: 0, bytes: bytes.count, now: now, budget: configuration.budget) else {
            return fail(.flood)
        }
        inbound.append(bytes)
        var actions: [SessionAction] = []
        while !isClosed {
            let limit = peerIsAuthenticated ? configuration.limits.maxFrameBytes : configuration.maxHandshakeFrameBytes
            let frame: (type: UInt8, body: [UInt8])?
            do { frame = try inbound.next(limits: configuration.limits, maxLength: limit) } catch {
                return actions + fail(.malformed(error))
            }
            guard let frame else { break }
            guard meter.charge(frames: 1, bytes: 0, now: now, budget: configuration.budget) else {
                return actions + fail(.flood)
            }
            actions += handle(type: frame.type, body: frame.body, now: now)
        }
        return actions
    }

    /// Seals and sends a conversation-data frame to the established peer.
    ///
    /// - Throws: ``SessionUsageError`` before establishment or for a conversation the peer was not
    ///   admitted to (no data leaks to a peer that may not see it).
    public mutating func send(_ frame: DataFrame) throws(SessionUsageError) -> [SessionAction] {
        guard case .established(let established) = state else { throw .notEstablished }
        let conversation = frame.sessionConversation
        guard established.peer.conversations.contains(conversation) else {
            throw .conversationNotAdmitted(conversation)
        }
        return sealAndSend(frame.encoded(), established.sealer)
    }

    /// A timer the session scheduled has fired.
    public mutating func timerFired(_ timer: SessionTimer, now: Duration) -> [SessionAction] {
        switch (timer, state) {
        case (_, .idle), (_, .closed):
            return []
        case (.handshakeTimeout, .established):
            return []
        case (.handshakeTimeout, _):
            return fail(.handshakeTimeout)
        case (.keepalive, .established(let established)):
            if now - lastReceived >= configuration.idleTimeout { return fail(.idleTimeout) }
            pingCounter &+= 1
            return sealAndSend(SessionFrame.ping(nonce: pingCounter, isReply: false).encoded(), established.sealer)
                + [.scheduleTimer(after: configuration.keepaliveInterval, .keepalive)]
        case (.keepalive, _):
            return []
        }
    }

    /// Ends the session from this side (shutdown, or a revocation of the peer), telling the peer why.
    public mutating func close(_ code: RefuseCode = .goingAway) -> [SessionAction] {
        switch state {
        case .idle, .closed: state = .closed; return []
        default: return fail(.closedLocally(code))
        }
    }

    /// The connection is gone; the session is over without further actions.
    public mutating func connectionClosed() {
        state = .closed
    }

    // MARK: - Phases

    private mutating func handle(type: UInt8, body: [UInt8], now: Duration) -> [SessionAction] {
        if case .awaitingHello = state, type == SessionFrame.FrameType.hello.rawValue,
           let versions = try? SessionHello.versions(inBody: body, limits: configuration.limits),
           Set(versions).isDisjoint(with: configuration.versions) {
            // Judged before the rest of the hello, whose layout another version may change.
            return fail(.refused(.unsupportedVersion))
        }
        let frame: SessionFrame
        do { frame = try SessionFrame(type: type, body: body, limits: configuration.limits) } catch {
            if case .unknownKind = error { return fail(.protocolViolation("frame type \(type) outside a sealed frame")) }
            return fail(.malformed(error))
        }
        if case .refuse(let code) = frame { return finish(.refusedByPeer(code)) }
        switch state {
        case .awaitingHello:
            guard case .hello(let hello) = frame else { return fail(.protocolViolation("expected hello")) }
            return onHello(hello, bytes: FrameHeader(type: type, length: body.count).bytes + body)
        case .awaitingHelloReply(let helloBytes):
            guard case .helloReply(let reply) = frame else { return fail(.protocolViolation("expected hello reply")) }
            return onHelloReply(reply, bytes: FrameHeader(type: type, length: body.count).bytes + body,
                                helloBytes: helloBytes)
        case .awaitingPeerStream(let phase):
            guard case .streamHeader(let header) = frame else { return fail(.protocolViolation("expected stream header")) }
            return onPeerStream(header, phase: phase)
        case .awaitingPeerIdentity(let phase):
            guard let peerStream = phase.peerStream else { return fail(.protocolViolation("identity before stream header")) }
            return handshake(frame, opener: peerStream.opener, expecting: "the peer's identity") { machine, inner in
                guard case .identify(let proof) = inner else { return nil }
                return machine.role == .dialer ? machine.onListenerIdentity(proof, phase: phase)
                    : machine.onDialerIdentity(proof, phase: phase)
            }
        case .collectingRequest(let phase):
            return handshake(frame, opener: phase.opener, expecting: "the dialer's request") { machine, inner in
                guard case .request(let request) = inner else { return nil }
                return machine.onRequest(request, phase: phase)
            }
        case .awaitingWelcome(let phase):
            return handshake(frame, opener: phase.opener, expecting: "welcome") { machine, inner in
                switch inner {
                case .welcome(let offered): return machine.onWelcome(offered, phase: phase)
                case .resolved(let sealedTokens) where machine.configuration.codeLookup != nil:
                    return [.codeResolved(sealedTokens)] + machine.finish(.refusedByPeer(.goingAway))
                default: return nil
                }
            }
        case .established(let established):
            guard case .sealed(let ciphertext) = frame else {
                return fail(.protocolViolation("plain frame after the handshake"))
            }
            return onSealed(ciphertext, established: established)
        case .idle, .closed:
            return []
        }
    }

    /// A sealed handshake frame: opens it and hands the session frame inside to `next`, which returns
    /// nil for a frame it does not expect. A sealed refusal ends the session.
    private mutating func handshake(_ frame: SessionFrame, opener: FrameOpener, expecting what: String,
                                    _ next: (inout SessionStateMachine, SessionFrame) -> [SessionAction]?) -> [SessionAction] {
        guard case .sealed(let ciphertext) = frame else { return fail(.protocolViolation("expected \(what)")) }
        let inner: InnerFrame
        switch open(ciphertext, opener) {
        case .failure(let reason): return fail(reason)
        case .success(let frame): inner = frame
        }
        if case .session(.refuse(let code)) = inner.frame { return finish(.refusedByPeer(code)) }
        guard case .session(let session) = inner.frame, !inner.isFinal, let actions = next(&self, session) else {
            return fail(.protocolViolation("expected \(what)"))
        }
        return actions
    }

    /// Listener: choose the version, derive keys, answer with our hello reply and, sealed, our identity.
    private mutating func onHello(_ hello: SessionHello, bytes helloBytes: [UInt8]) -> [SessionAction] {
        guard let version = Set(configuration.versions).intersection(hello.versions).max() else {
            return fail(.refused(.unsupportedVersion))
        }
        let keys: SessionKeys
        do { keys = try SessionKeys(role: .server, own: ephemeral, peerPublicKey: hello.ephemeralKey) } catch {
            return fail(.protocolViolation("unusable ephemeral key"))
        }
        let sealer = keys.makeSealer()
        let replyBytes = SessionFrame.helloReply(SessionHelloReply(
            selectedVersion: version, ephemeralKey: ephemeral.publicKey, nonce: nonce)).encoded()
        let transcript = Transcript(hello: helloBytes, helloReply: replyBytes)
        state = .awaitingPeerStream(Keyed(transcript: transcript, version: version, keys: keys, sealer: sealer))
        return [.send(replyBytes + SessionFrame.streamHeader(sealer.header).encoded()
            + sealed(identify(role: .listener, transcript: transcript, header: sealer.header), sealer))]
    }

    /// Dialer: check the chosen version and derive keys; the listener's stream header comes next.
    private mutating func onHelloReply(_ reply: SessionHelloReply, bytes replyBytes: [UInt8],
                                       helloBytes: [UInt8]) -> [SessionAction] {
        guard configuration.versions.contains(reply.selectedVersion) else { return fail(.refused(.unsupportedVersion)) }
        let keys: SessionKeys
        do { keys = try SessionKeys(role: .client, own: ephemeral, peerPublicKey: reply.ephemeralKey) } catch {
            return fail(.protocolViolation("unusable ephemeral key"))
        }
        state = .awaitingPeerStream(Keyed(transcript: Transcript(hello: helloBytes, helloReply: replyBytes),
                                          version: reply.selectedVersion, keys: keys))
        return []
    }

    /// Both: the peer's stream starts (its header is plain and random); its sealed identity comes next.
    private mutating func onPeerStream(_ header: [UInt8], phase: Keyed) -> [SessionAction] {
        let opener: FrameOpener
        do { opener = try phase.keys.makeOpener(header: header) } catch {
            return fail(.protocolViolation("bad stream header"))
        }
        var next = phase
        next.peerStream = (opener, header)
        state = .awaitingPeerIdentity(next)
        return []
    }

    /// Dialer: verify the listener's key, ask our admission policy what this listener may be asked for,
    /// then prove our own key and send the request, all sealed.
    private mutating func onListenerIdentity(_ proof: SessionIdentity, phase: Keyed) -> [SessionAction] {
        guard let peerStream = phase.peerStream else { return fail(.protocolViolation("identity before stream header")) }
        guard proof.identity != identity.publicKey.replicaID else { return fail(.refused(.selfConnection)) }
        let transcript = phase.transcript
        guard let listener = verified(proof, role: .listener, transcript: transcript, header: peerStream.header)
        else { return fail(.refused(.authenticationFailed)) }
        let asked: [ConversationID]
        switch admission(AdmissionRequest(peer: listener, conversations: configuration.conversations, inviteToken: nil)) {
        case .refuse(let code): return fail(.refused(code))
        case .resolved: return fail(.refused(.notAMember)) // a listener is never asked to resolve
        case .admit(let conversations): asked = Array(Set(conversations).intersection(configuration.conversations)).sorted()
        }
        let sealer = phase.keys.makeSealer()
        var bytes = SessionFrame.streamHeader(sealer.header).encoded()
        bytes += sealed(identify(role: .dialer, transcript: transcript, header: sealer.header), sealer)
        let requests = SessionRequest.chunks(of: asked, inviteToken: configuration.inviteToken,
                                             codeLookup: configuration.codeLookup)
        for request in requests { bytes += sealed(SessionFrame.request(request).encoded(), sealer) }
        state = .awaitingWelcome(AwaitingWelcome(sealer: sealer, opener: peerStream.opener, peerKey: listener,
                                                 version: phase.version, asked: Set(requests.flatMap(\.conversations))))
        return [.send(bytes)]
    }

    /// Listener: verify the dialer's key; its request comes next.
    private mutating func onDialerIdentity(_ proof: SessionIdentity, phase: Keyed) -> [SessionAction] {
        guard let dialer = phase.peerStream, let sealer = phase.sealer else {
            return fail(.protocolViolation("identity before stream header"))
        }
        guard proof.identity != identity.publicKey.replicaID else { return fail(.refused(.selfConnection)) }
        guard let peerKey = verified(proof, role: .dialer, transcript: phase.transcript, header: dialer.header) else {
            return fail(.refused(.authenticationFailed))
        }
        state = .collectingRequest(CollectingRequest(
            sealer: sealer, opener: dialer.opener, peerKey: peerKey, version: phase.version))
        return []
    }

    /// Listener: gather the request's chunks (ascending, bounded, the token only in the first); after
    /// the last, ask the admission policy and welcome the dialer to what it may sync.
    private mutating func onRequest(_ request: SessionRequest, phase: CollectingRequest) -> [SessionAction] {
        guard (request.inviteToken == nil && request.codeLookup == nil) || phase.chunks == 0 else {
            return fail(.protocolViolation("invite token or code after the first request frame"))
        }
        if let first = request.conversations.first, let previous = phase.conversations.last, previous >= first {
            return fail(.protocolViolation("request frames not ascending"))
        }
        var phase = phase
        phase.chunks += 1
        phase.conversations += request.conversations
        if request.inviteToken != nil { phase.inviteToken = request.inviteToken }
        if request.codeLookup != nil { phase.codeLookup = request.codeLookup }
        guard phase.conversations.count <= SessionRequest.maxConversations else {
            return fail(.protocolViolation("more than \(SessionRequest.maxConversations) conversations requested"))
        }
        guard !request.hasMore else {
            state = .collectingRequest(phase)
            return []
        }
        let admitted: [ConversationID]
        switch admission(AdmissionRequest(peer: phase.peerKey, conversations: phase.conversations,
                                          inviteToken: phase.inviteToken, codeLookup: phase.codeLookup)) {
        case .refuse(let code): return fail(.refused(code))
        case .resolved(let sealedTokens):
            // Not marked final (a final handshake frame is a refusal); the dialer ends on it.
            return sealAndSend(SessionFrame.resolved(sealedTokens: Array(sealedTokens.prefix(SessionFrame.maxResolvedTokens)))
                .encoded(), phase.sealer)
                + finish(.closedLocally(.goingAway))
        case .admit(let conversations):
            // Only conversations both sides hold and the dialer asked for, so both ends agree on the set.
            admitted = Array(Set(conversations).intersection(configuration.conversations)
                .intersection(phase.conversations)).sorted()
        }
        let peer = SessionPeer(key: phase.peerKey, version: phase.version, conversations: admitted,
                               inviteToken: phase.inviteToken)
        state = .established(Established(sealer: phase.sealer, opener: phase.opener, peer: peer))
        return [.send(sealed(SessionFrame.welcome(conversations: admitted).encoded(), phase.sealer))]
            + [.authenticated(peer), .scheduleTimer(after: configuration.keepaliveInterval, .keepalive)]
    }

    /// Dialer: the listener's welcome names what it admitted; we keep what we asked for.
    private mutating func onWelcome(_ offered: [ConversationID], phase: AwaitingWelcome) -> [SessionAction] {
        let peer = SessionPeer(key: phase.peerKey, version: phase.version,
                               conversations: offered.filter { phase.asked.contains($0) })
        state = .established(Established(sealer: phase.sealer, opener: phase.opener, peer: peer))
        return [.authenticated(peer), .scheduleTimer(after: configuration.keepaliveInterval, .keepalive)]
    }

    /// Established: open, then deliver data, answer pings, or end on a refuse.
    private mutating func onSealed(_ ciphertext: [UInt8], established: Established) -> [SessionAction] {
        let inner: InnerFrame
        switch open(ciphertext, established.opener) {
        case .failure(let reason): return fail(reason)
        case .success(let frame): inner = frame
        }
        var actions: [SessionAction]
        switch inner.frame {
        case .data(let data):
            guard established.peer.conversations.contains(data.sessionConversation) else {
                return fail(.protocolViolation("data for a conversation the peer was not admitted to"))
            }
            actions = [.deliver(data)]
        case .session(.ping(let nonce, let isReply)):
            actions = isReply ? [] : sealAndSend(SessionFrame.ping(nonce: nonce, isReply: true).encoded(), established.sealer)
        case .session(.refuse(let code)):
            return finish(.refusedByPeer(code))
        case .session:
            return fail(.protocolViolation("handshake frame inside the session"))
        }
        if inner.isFinal, !isClosed { actions += finish(.refusedByPeer(.goingAway)) }
        return actions
    }

    // MARK: - Helpers

    private func ownHello() -> SessionHello {
        SessionHello(versions: configuration.versions, ephemeralKey: ephemeral.publicKey, nonce: nonce)
    }

    /// Our identity frame for `role`: our key and our signature over the transcript and our stream header.
    private func identify(role: SessionRole, transcript: Transcript, header: [UInt8]) -> [UInt8] {
        let signature = identity.sign(SessionTranscript.authMessage(
            role: role, hello: transcript.hello, helloReply: transcript.helloReply, streamHeader: header))
        return SessionFrame.identify(SessionIdentity(identity: identity.publicKey.replicaID, signature: signature.bytes))
            .encoded()
    }

    /// The peer's key when its signature over the transcript (as `role`, with its stream header) verifies.
    private func verified(_ proof: SessionIdentity, role: SessionRole, transcript: Transcript,
                          header: [UInt8]) -> PublicKey? {
        let key = PublicKey(proof.identity)
        let message = SessionTranscript.authMessage(
            role: role, hello: transcript.hello, helloReply: transcript.helloReply, streamHeader: header)
        guard let signature = Signature(bytes: proof.signature), key.isValidSignature(signature, for: message) else {
            return nil
        }
        return key
    }

    /// Whether the peer has proven its key (larger frames are then accepted from it).
    private var peerIsAuthenticated: Bool {
        switch state {
        case .established, .awaitingWelcome, .collectingRequest: true
        default: false
        }
    }

    /// The sealer of this side's stream, once it has one: refusals then travel sealed too.
    private var ownSealer: FrameSealer? {
        switch state {
        case .established(let established): established.sealer
        case .awaitingWelcome(let phase): phase.sealer
        case .awaitingPeerStream(let phase), .awaitingPeerIdentity(let phase): phase.sealer
        case .collectingRequest(let phase): phase.sealer
        default: nil
        }
    }

    /// Opens a sealed frame and decodes the whole frame inside it.
    private func open(_ ciphertext: [UInt8], _ opener: FrameOpener) -> Result<InnerFrame, SessionCloseReason> {
        let plaintext: [UInt8]
        let isFinal: Bool
        do { (plaintext, isFinal) = try opener.open(ciphertext) } catch { return .failure(.decryptionFailed(error)) }
        guard plaintext.count >= FrameHeader.byteCount else {
            return .failure(.malformed(.malformed(.truncated(offset: plaintext.count))))
        }
        do {
            let header = try FrameHeader(decoding: plaintext.prefix(FrameHeader.byteCount), limits: configuration.limits)
            let body = Array(plaintext.dropFirst(FrameHeader.byteCount))
            guard body.count == header.length else {
                return .failure(.malformed(body.count < header.length
                    ? .malformed(.truncated(offset: plaintext.count)) : .trailingBytes(body.count - header.length)))
            }
            if SessionFrame.isSessionFrame(type: header.type) {
                let frame = try SessionFrame(type: header.type, body: body, limits: configuration.limits)
                if case .sealed = frame { return .failure(.protocolViolation("sealed frame inside a sealed frame")) }
                return .success(InnerFrame(frame: .session(frame), isFinal: isFinal))
            }
            return .success(InnerFrame(
                frame: .data(try DataFrame(type: header.type, body: body, limits: configuration.limits)), isFinal: isFinal))
        } catch {
            return .failure(.malformed(error))
        }
    }

    private func sealAndSend(_ plaintext: [UInt8], _ sealer: FrameSealer, final: Bool = false) -> [SessionAction] {
        let bytes = sealed(plaintext, sealer, final: final)
        return bytes.isEmpty ? [] : [.send(bytes)]
    }

    /// The sealed frame carrying `plaintext` (one whole frame).
    private func sealed(_ plaintext: [UInt8], _ sealer: FrameSealer, final: Bool = false) -> [UInt8] {
        // A sealer only refuses after a final frame, which is sent only as the session closes.
        guard let ciphertext = try? sealer.seal(plaintext, final: final) else { return [] }
        return SessionFrame.sealed(ciphertext).encoded()
    }

    /// Ends the session for `reason`: tells the peer why (sealed once this side has a stream), asks the shell to back
    /// off from an offender, and closes.
    private mutating func fail(_ reason: SessionCloseReason) -> [SessionAction] {
        var actions: [SessionAction] = []
        if let code = reason.refuseCode {
            let refuse = SessionFrame.refuse(code).encoded()
            if let sealer = ownSealer {
                actions += sealAndSend(refuse, sealer, final: true)
            } else {
                actions.append(.send(refuse))
            }
        }
        if reason.isOffence { actions.append(.backOff(configuration.backOff)) }
        return actions + finish(reason)
    }

    /// Closes without telling the peer anything.
    private mutating func finish(_ reason: SessionCloseReason) -> [SessionAction] {
        state = .closed
        return [.close(reason)]
    }
}

// MARK: - Phase data

extension SessionStateMachine {
    /// One case per protocol phase; each phase's data is its own struct.
    private enum State: Sendable {
        /// Created, not started.
        case idle
        /// Listener: waiting for the dialer's hello.
        case awaitingHello
        /// Dialer: hello sent (its exact bytes kept for the transcript).
        case awaitingHelloReply(hello: [UInt8])
        /// Both: keys derived (the listener also sent its reply, stream header and sealed identity);
        /// waiting for the peer's stream header.
        case awaitingPeerStream(Keyed)
        /// Both: the peer's stream is open; waiting for its sealed identity.
        case awaitingPeerIdentity(Keyed)
        /// Listener: the dialer proved its key; gathering its request frames.
        case collectingRequest(CollectingRequest)
        /// Dialer: proved its key and sent its request; waiting for the welcome.
        case awaitingWelcome(AwaitingWelcome)
        /// Authenticated and admitted.
        case established(Established)
        /// Over.
        case closed
    }

    /// The frames both signatures cover (each signer adds its own stream header).
    private struct Transcript: Sendable {
        var hello: [UInt8]
        var helloReply: [UInt8]
    }

    /// Keys agreed, identities not yet proven.
    private struct Keyed: Sendable {
        var transcript: Transcript
        var version: UInt16
        var keys: SessionKeys
        /// The listener's stream, whose header it already sent; nil for the dialer (made once the
        /// listener has proven its key).
        var sealer: FrameSealer?
        /// The peer's stream, once its header arrived.
        var peerStream: (opener: FrameOpener, header: [UInt8])?
    }

    private struct CollectingRequest: Sendable {
        var sealer: FrameSealer
        var opener: FrameOpener
        var peerKey: PublicKey
        var version: UInt16
        var conversations: [ConversationID] = []
        var inviteToken: [UInt8]?
        var codeLookup: [UInt8]?
        var chunks = 0
    }

    private struct AwaitingWelcome: Sendable {
        var sealer: FrameSealer
        var opener: FrameOpener
        var peerKey: PublicKey
        var version: UInt16
        /// What we asked for: the welcome may narrow it, never widen it.
        var asked: Set<ConversationID>
    }

    private struct Established: Sendable {
        var sealer: FrameSealer
        var opener: FrameOpener
        var peer: SessionPeer
    }

    private struct InnerFrame {
        enum Kind {
            case data(DataFrame)
            case session(SessionFrame)
        }

        var frame: Kind
        var isFinal: Bool
    }
}

extension DataFrame {
    /// The conversation the frame belongs to.
    fileprivate var sessionConversation: ConversationID {
        switch self {
        case .batches(let conversation, _), .clock(let conversation, _), .ephemeral(let conversation, _),
             .peers(let conversation, _), .admission(let conversation, _), .invitation(let conversation, _),
             .admissionRefused(let conversation, _), .want(let conversation, _): conversation
        }
    }
}

/// Accumulates bytes from the connection and cuts whole frames out of them, checking each header (and so
/// the body's length) before waiting for the body.
struct FrameAssembler: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func append(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, or nil until more bytes arrive.
    /// - Complexity: O(frame size), amortised.
    mutating func next(limits: WireLimits, maxLength: Int) throws(WireError) -> (type: UInt8, body: [UInt8])? {
        let available = buffer.count - start
        guard available >= FrameHeader.byteCount else { return nil }
        let header = try FrameHeader(decoding: buffer[start ..< start + FrameHeader.byteCount], limits: limits)
        guard header.length <= maxLength else { throw .tooLarge(field: "frame", size: header.length, limit: maxLength) }
        guard available - FrameHeader.byteCount >= header.length else { return nil }
        let bodyStart = start + FrameHeader.byteCount
        let body = Array(buffer[bodyStart ..< bodyStart + header.length])
        start = bodyStart + header.length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 1 << 16, start * 2 >= buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        return (header.type, body)
    }
}

/// Counts frames and bytes in the current window.
struct BudgetMeter: Sendable {
    private var windowStart: Duration?
    private var frames = 0
    private var bytes = 0

    /// Charges the meter; false when the budget of the window containing `now` is exceeded.
    mutating func charge(frames newFrames: Int, bytes newBytes: Int, now: Duration, budget: IngressBudget) -> Bool {
        if let windowStart, now - windowStart < budget.window {
            frames += newFrames
            bytes += newBytes
        } else {
            windowStart = now
            frames = newFrames
            bytes = newBytes
        }
        return frames <= budget.maxFrames && bytes <= budget.maxBytes
    }
}
