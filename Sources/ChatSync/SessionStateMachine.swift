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
    /// The versions this build speaks. Version 2: token joins carry a signed admission
    /// (operation tag 15), and data frames 5 (admission) and 6 (invitation) exist; version 1
    /// peers cannot judge or decode those, so the two do not connect.
    public static let currentVersions: [UInt16] = [2]

    /// Protocol versions this side speaks.
    public var versions: [UInt16]
    /// The conversations this side wants to sync with the peer.
    public var conversations: [ConversationID]
    /// The exact bytes of an invite token, when this side joins without being a member yet.
    public var inviteToken: [UInt8]?
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

    /// A request.
    public init(peer: PublicKey, conversations: [ConversationID], inviteToken: [UInt8]?) {
        self.peer = peer
        self.conversations = conversations
        self.inviteToken = inviteToken
    }
}

/// The admission policy's answer.
public enum AdmissionDecision: Sendable, Hashable {
    /// The peer may sync these conversations (a subset of those it asked for).
    case admit(conversations: [ConversationID])
    /// The peer is refused with this reason, before any conversation data flows.
    case refuse(RefuseCode)
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
/// dialer                                      listener
///   hello ─────────────────────────────────────▶  (version, keys)
///         ◀──────────────────── helloReply, auth   sign(listener, hello ‖ reply ‖ header)
///   verify, admit, auth ───────────────────────▶  verify, admit
///         ◀────────────────────── sealed(welcome)
///   established                                   established
/// ```
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
            let hello = SessionFrame.hello(ownHello(inviteToken: configuration.inviteToken)).encoded()
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
            let limit = if case .established = state { configuration.limits.maxFrameBytes }
                else { configuration.maxHandshakeFrameBytes }
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
        let frame: SessionFrame
        do { frame = try SessionFrame(type: type, body: body, limits: configuration.limits) } catch {
            if case .unknownKind = error { return fail(.protocolViolation("frame type \(type) outside a sealed frame")) }
            return fail(.malformed(error))
        }
        if case .refuse(let code) = frame { return finish(.refusedByPeer(code)) }
        let exactBytes = FrameHeader(type: type, length: body.count).bytes + body
        switch state {
        case .awaitingHello:
            guard case .hello(let hello) = frame else { return fail(.protocolViolation("expected hello")) }
            return onHello(hello, bytes: exactBytes)
        case .awaitingHelloReply(let helloBytes):
            guard case .helloReply(let reply) = frame else { return fail(.protocolViolation("expected hello reply")) }
            return onHelloReply(reply, bytes: exactBytes, helloBytes: helloBytes)
        case .awaitingAuth(let phase):
            guard case .auth(let auth) = frame else { return fail(.protocolViolation("expected auth")) }
            return onAuth(auth, phase: phase, now: now)
        case .awaitingWelcome(let phase):
            guard case .sealed(let ciphertext) = frame else { return fail(.protocolViolation("expected welcome")) }
            return onWelcome(ciphertext, phase: phase, now: now)
        case .established(let established):
            guard case .sealed(let ciphertext) = frame else {
                return fail(.protocolViolation("plain frame after the handshake"))
            }
            return onSealed(ciphertext, established: established)
        case .idle, .closed:
            return []
        }
    }

    /// Listener: choose the version, derive keys, answer with our hello and our signature.
    private mutating func onHello(_ hello: SessionHello, bytes helloBytes: [UInt8]) -> [SessionAction] {
        guard hello.identity != identity.publicKey.replicaID else { return fail(.refused(.selfConnection)) }
        guard let version = Set(configuration.versions).intersection(hello.versions).max() else {
            return fail(.refused(.unsupportedVersion))
        }
        let keys: SessionKeys
        do { keys = try SessionKeys(role: .server, own: ephemeral, peerPublicKey: hello.ephemeralKey) } catch {
            return fail(.protocolViolation("unusable ephemeral key"))
        }
        let replyBytes = SessionFrame.helloReply(SessionHelloReply(selectedVersion: version, hello: ownHello(inviteToken: nil)))
            .encoded()
        let sealer = keys.makeSealer()
        let signature = identity.sign(SessionTranscript.authMessage(
            role: .listener, hello: helloBytes, helloReply: replyBytes, streamHeader: sealer.header))
        let auth = SessionFrame.auth(SessionAuth(signature: signature.bytes, streamHeader: sealer.header)).encoded()
        state = .awaitingAuth(AwaitingAuth(
            hello: helloBytes, helloReply: replyBytes, peerHello: hello, version: version, keys: keys, sealer: sealer))
        return [.send(replyBytes + auth)]
    }

    /// Dialer: check the chosen version and derive keys; the listener's auth comes next.
    private mutating func onHelloReply(_ reply: SessionHelloReply, bytes replyBytes: [UInt8],
                                       helloBytes: [UInt8]) -> [SessionAction] {
        guard reply.hello.identity != identity.publicKey.replicaID else { return fail(.refused(.selfConnection)) }
        guard configuration.versions.contains(reply.selectedVersion),
              reply.hello.versions.contains(reply.selectedVersion) else {
            return fail(.refused(.unsupportedVersion))
        }
        let keys: SessionKeys
        do { keys = try SessionKeys(role: .client, own: ephemeral, peerPublicKey: reply.hello.ephemeralKey) } catch {
            return fail(.protocolViolation("unusable ephemeral key"))
        }
        state = .awaitingAuth(AwaitingAuth(
            hello: helloBytes, helloReply: replyBytes, peerHello: reply.hello, version: reply.selectedVersion,
            keys: keys, sealer: nil))
        return []
    }

    /// Both: verify the peer's signature over the transcript, ask the admission policy, then (dialer)
    /// prove our own key or (listener) welcome the dialer.
    private mutating func onAuth(_ auth: SessionAuth, phase: AwaitingAuth, now: Duration) -> [SessionAction] {
        let peerKey = PublicKey(phase.peerHello.identity)
        let peerRole: SessionRole = role == .dialer ? .listener : .dialer
        let message = SessionTranscript.authMessage(
            role: peerRole, hello: phase.hello, helloReply: phase.helloReply, streamHeader: auth.streamHeader)
        guard let signature = Signature(bytes: auth.signature), peerKey.isValidSignature(signature, for: message) else {
            return fail(.refused(.authenticationFailed))
        }
        let opener: FrameOpener
        do { opener = try phase.keys.makeOpener(header: auth.streamHeader) } catch {
            return fail(.protocolViolation("bad stream header"))
        }
        let request = AdmissionRequest(
            peer: peerKey, conversations: phase.peerHello.conversations, inviteToken: phase.peerHello.inviteToken)
        let admitted: [ConversationID]
        switch admission(request) {
        case .refuse(let code): return fail(.refused(code))
        case .admit(let conversations):
            // Only conversations both sides asked for, so both ends agree on the same set.
            admitted = Array(Set(conversations).intersection(configuration.conversations)
                .intersection(phase.peerHello.conversations)).sorted()
        }
        switch role {
        case .dialer:
            let sealer = phase.keys.makeSealer()
            let signature = identity.sign(SessionTranscript.authMessage(
                role: .dialer, hello: phase.hello, helloReply: phase.helloReply, streamHeader: sealer.header))
            state = .awaitingWelcome(AwaitingWelcome(
                sealer: sealer, opener: opener, peerKey: peerKey, version: phase.version, admitted: admitted))
            return [.send(SessionFrame.auth(SessionAuth(signature: signature.bytes, streamHeader: sealer.header)).encoded())]
        case .listener:
            guard let sealer = phase.sealer else { return fail(.protocolViolation("listener without a stream")) }
            let peer = SessionPeer(key: peerKey, version: phase.version, conversations: admitted,
                                   inviteToken: phase.peerHello.inviteToken)
            state = .established(Established(sealer: sealer, opener: opener, peer: peer))
            return sealAndSend(SessionFrame.welcome(conversations: admitted).encoded(), sealer)
                + [.authenticated(peer), .scheduleTimer(after: configuration.keepaliveInterval, .keepalive)]
        }
    }

    /// Dialer: the first sealed frame must be the listener's welcome.
    private mutating func onWelcome(_ ciphertext: [UInt8], phase: AwaitingWelcome, now: Duration) -> [SessionAction] {
        let inner: InnerFrame
        switch open(ciphertext, phase.opener) {
        case .failure(let reason): return fail(reason)
        case .success(let frame): inner = frame
        }
        switch inner.frame {
        case .session(.welcome(let offered)):
            let agreed = offered.filter { phase.admitted.contains($0) }
            let peer = SessionPeer(key: phase.peerKey, version: phase.version, conversations: agreed)
            state = .established(Established(sealer: phase.sealer, opener: phase.opener, peer: peer))
            var actions: [SessionAction] = [.authenticated(peer)]
            if inner.isFinal { actions += finish(.refusedByPeer(.goingAway)) } else {
                actions.append(.scheduleTimer(after: configuration.keepaliveInterval, .keepalive))
            }
            return actions
        case .session(.refuse(let code)):
            return finish(.refusedByPeer(code))
        default:
            return fail(.protocolViolation("expected welcome"))
        }
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

    private func ownHello(inviteToken: [UInt8]?) -> SessionHello {
        SessionHello(versions: configuration.versions, identity: identity.publicKey.replicaID,
                     ephemeralKey: ephemeral.publicKey, nonce: nonce, inviteToken: inviteToken,
                     conversations: configuration.conversations)
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
        // A sealer only refuses after a final frame, which is sent only as the session closes.
        guard let ciphertext = try? sealer.seal(plaintext, final: final) else { return [] }
        return [.send(SessionFrame.sealed(ciphertext).encoded())]
    }

    /// Ends the session for `reason`: tells the peer why (sealed once established), asks the shell to back
    /// off from an offender, and closes.
    private mutating func fail(_ reason: SessionCloseReason) -> [SessionAction] {
        var actions: [SessionAction] = []
        if let code = reason.refuseCode {
            let refuse = SessionFrame.refuse(code).encoded()
            if case .established(let established) = state {
                actions += sealAndSend(refuse, established.sealer, final: true)
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
        /// Both hellos known, keys derived; waiting for the peer's signature.
        case awaitingAuth(AwaitingAuth)
        /// Dialer: authenticated the listener and sent its own proof; waiting for admission.
        case awaitingWelcome(AwaitingWelcome)
        /// Authenticated and admitted; frames are sealed.
        case established(Established)
        /// Over.
        case closed
    }

    private struct AwaitingAuth: Sendable {
        var hello: [UInt8]
        var helloReply: [UInt8]
        var peerHello: SessionHello
        var version: UInt16
        var keys: SessionKeys
        /// The listener's sealer, whose header it already sent; nil for the dialer.
        var sealer: FrameSealer?
    }

    private struct AwaitingWelcome: Sendable {
        var sealer: FrameSealer
        var opener: FrameOpener
        var peerKey: PublicKey
        var version: UInt16
        var admitted: [ConversationID]
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
             .admissionRefused(let conversation, _): conversation
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
