import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import Foundation
import Logging
import NIOCore

/// The layout of a node's data directory: `identity` (the key file), `store/` (LMDB),
/// `control.sock` (the owner-only control socket), `peers` (addresses joined through, one
/// `host:port` per line, redialled on every start) and `name` (the default display name).
public struct DataDirectory: Sendable, Hashable {
    /// The directory itself.
    public var path: String

    /// A data directory at `path`.
    public init(path: String) { self.path = path }

    /// The identity file.
    public var identityPath: String { path + "/identity" }
    /// The store's directory.
    public var storePath: String { path + "/store" }
    /// The control socket.
    public var controlSocketPath: String { path + "/control.sock" }
    /// The remembered peers.
    public var peersPath: String { path + "/peers" }
    /// The display name `init --name` saved (used when `serve` gets no `--name`).
    public var namePath: String { path + "/name" }
    /// The key of the HTTP API (owner-only; made on first use).
    public var httpKeyPath: String { path + "/http.key" }
    /// Where the running node's HTTP API listens (`http://host:port/`), for `streamingchat ui`.
    public var httpAddressPath: String { path + "/http.address" }

    /// The HTTP API's key: read, or made (32 random bytes as hex, written owner-only).
    public func httpKey() throws(DaemonError) -> String {
        if let text = try? String(contentsOfFile: httpKeyPath, encoding: .utf8) {
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if key.count == 64 { return key }
        }
        var generator = SystemRandomNumberGenerator()
        let key = Hex.encode((0 ..< 32).map { _ in UInt8.random(in: 0 ... 255, using: &generator) })
        guard FileManager.default.createFile(atPath: httpKeyPath, contents: Data((key + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw .directory(httpKeyPath, "cannot write the HTTP key")
        }
        return key
    }

    /// The saved display name, if any.
    public func savedName() -> String? {
        guard let text = try? String(contentsOfFile: namePath, encoding: .utf8) else { return nil }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty ? nil : name
    }

    /// Saves the display name `serve` uses by default.
    public func saveName(_ name: String) throws(DaemonError) {
        do {
            try Data((name + "\n").utf8).write(to: URL(fileURLWithPath: namePath), options: .atomic)
        } catch {
            throw .directory(namePath, "\(error.localizedDescription)")
        }
    }

    /// The per-user default: `$STREAMINGCHAT_HOME`, else `$XDG_DATA_HOME/streamingchat`, else
    /// `~/.local/share/streamingchat`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let home = environment["STREAMINGCHAT_HOME"], !home.isEmpty { return home }
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty { return data + "/streamingchat" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/share/streamingchat"
    }

    /// Creates the directory (mode 0700, parents as needed) if it does not exist.
    public func create() throws(DaemonError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .directory(path, "it exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .directory(path, "\(error.localizedDescription)")
        }
    }

    /// Loads the identity, creating it (and the directory) first if missing.
    public func loadOrCreateIdentity() throws(DaemonError) -> SigningKey {
        try create()
        do { return try IdentityFile.loadOrCreate(at: identityPath) } catch { throw .identity(error) }
    }

    /// The peers remembered from earlier joins; unreadable or malformed lines are skipped.
    public func rememberedPeers() -> [PeerEndpoint] {
        guard let text = try? String(contentsOfFile: peersPath, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { PeerEndpoint($0) }
    }

    /// Adds `peer` to the remembered peers (no-op if present).
    public func remember(_ peer: PeerEndpoint) throws(DaemonError) {
        var peers = rememberedPeers()
        guard !peers.contains(peer) else { return }
        peers.append(peer)
        let text = peers.map(\.description).joined(separator: "\n") + "\n"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: peersPath), options: .atomic)
        } catch {
            throw .directory(peersPath, "\(error.localizedDescription)")
        }
    }
}

/// Why a daemon could not start. Stable `code`s.
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    /// The data directory (or a file in it) is unusable: path and reason.
    case directory(String, String)
    /// The identity file could not be loaded or created.
    case identity(CryptoError)
    /// The node (its store) could not be opened.
    case node(NodeError)
    /// The node could not listen for peers.
    case listen(String)
    /// The control socket could not be served (or a node already runs here).
    case control(ControlSocketError)
    /// LAN discovery could not start.
    case discovery(String)

    /// Stable, machine-readable.
    public var code: String {
        switch self {
        case .directory: "data_directory"
        case .identity: "identity"
        case .node(let error): error.code
        case .listen: "listen"
        case .control(let error): error.code
        case .discovery: "discovery"
        }
    }

    /// A sentence for a person.
    public var description: String {
        switch self {
        case .directory(let path, let reason): "cannot use \(path): \(reason)"
        case .identity(let error): "identity: \(error)"
        case .node(let error): error.description
        case .listen(let reason): "cannot listen: \(reason)"
        case .control(let error): error.description
        case .discovery(let reason): "LAN discovery: \(reason)"
        }
    }
}

/// A node run as a daemon: opens the data directory's identity and store, starts the node, serves
/// ``NodeControl`` on the control socket and, when asked, LAN discovery; runs until `shutdown`
/// yields or a `stop` request arrives, then closes the socket and stops the node cleanly.
public enum NodeDaemon {
    /// How to run.
    public struct Options: Sendable {
        public var dataDirectory: DataDirectory
        /// Where to listen for peers (port 0: any free port).
        public var listen: PeerEndpoint
        /// The address put into invites (defaults to the listening address).
        public var advertised: PeerEndpoint?
        /// Peers to keep dialled, besides the remembered ones.
        public var peers: [PeerEndpoint]
        /// Announce and find peers on the LAN.
        public var lan: Bool
        /// This node's display name in conversations it creates or joins.
        public var displayName: String?
        /// Services that run beside the node until it stops (the HTTP API), each given the
        /// daemon's control handler (the same commands, write gate and bookkeeping as the socket).
        public var services: [Service]
        /// Where the daemon says what happens (sessions, joins, removals, errors), by level.
        public var logger: Logger

        /// A service: runs until its task is cancelled.
        public typealias Service = @Sendable (_ handle: @escaping @Sendable (ControlRequest) async -> ControlResponse) async -> Void

        /// Options with every field given.
        public init(dataDirectory: DataDirectory, listen: PeerEndpoint, advertised: PeerEndpoint? = nil,
                    peers: [PeerEndpoint] = [], lan: Bool = false, displayName: String? = nil, services: [Service] = [],
                    logger: Logger = Logger(label: "streamingchat")) {
            self.dataDirectory = dataDirectory
            self.listen = listen
            self.advertised = advertised
            self.peers = peers
            self.lan = lan
            self.displayName = displayName
            self.services = services
            self.logger = logger
        }
    }

    /// What a started daemon reports once it accepts peers and control requests.
    public struct Started: Sendable, Hashable {
        /// The node's public key (sc1…).
        public var key: String
        /// Where it listens for peers.
        public var listening: PeerEndpoint
        /// Its control socket.
        public var controlSocket: String
    }

    /// Why the node could not listen, for a person: the common socket errors in words and what to
    /// do, rather than the failing system call.
    static func listenFailure(_ error: any Error) -> String {
        guard let failure = error as? IOError else { return "\(error)" }
        switch failure.errnoCode {
        case EADDRINUSE: return "the address is already in use (another node or program listens there); choose another --listen port"
        case EACCES: return "permission denied (ports below 1024 need privileges); choose a port above 1023"
        case EADDRNOTAVAIL: return "this machine has no such address; use one of its own, or 0.0.0.0"
        default: return String(cString: strerror(failure.errnoCode))
        }
    }

    /// Runs the daemon; `started` is called once it is ready, `log` for node errors worth a line.
    /// Returns after a clean shutdown.
    /// What the log says of a node event: sessions, joins, removals and permission changes at
    /// `info`, messages and settings at `debug`, presence, typing and cursors at `trace`.
    static func log(_ event: NodeEvent, to logger: Logger) {
        func short(_ replica: ReplicaID) -> String { String(PublicKey(replica).text.prefix(15)) }
        func short(_ conversation: ConversationID) -> String { String(conversation.hex.prefix(12)) }
        switch event {
        case .sync(let peer, let status):
            logger.info("session \(status) with \(short(peer))")
        case .userJoined(let conversation, let user):
            logger.info("\(short(user)) joined \(short(conversation))")
        case .userLeft(let conversation, let user):
            logger.info("\(short(user)) left or was removed from \(short(conversation))")
        case .permissionChanged(let conversation, let user, let permission):
            logger.info("\(short(user)) now has \(permission.map { "\($0)" } ?? "no") permission in \(short(conversation))")
        case .accessRequested(let conversation, let user, let permission):
            logger.info("\(short(user)) asks for \(permission) in \(short(conversation))")
        case .invitationReceived(let conversation, let from):
            logger.info("an invitation to \(short(conversation)) arrived from \(short(from))")
        case .messageReceived(let conversation, let id), .messageEdited(let conversation, let id), .messageDeleted(let conversation, let id):
            logger.debug("message \(id) changed in \(short(conversation))")
        case .userUpdated(let conversation, _), .settingsChanged(let conversation), .linksChanged(let conversation):
            logger.debug("\(short(conversation)) changed: \(event)")
        case .ephemeral(let conversation, _):
            logger.trace("presence, typing or cursor in \(short(conversation))")
        case .error(let code, let message):
            logger.warning("\(code): \(message)")
        }
    }

    public static func run(_ options: Options, shutdown: AsyncStream<Void>,
                           started: @Sendable (Started) -> Void,
                           log: @escaping @Sendable (String) -> Void) async throws(DaemonError) {
        let directory = options.dataDirectory
        // Judged before the identity key is written into it.
        try directory.create()
        do { try ControlServer.checkDirectory(directory.path) } catch { throw .control(error) }
        let identity = try directory.loadOrCreateIdentity()
        // Refuse before opening the store: one node per data directory.
        if (try? await ControlClient.send(ControlRequest(command: "status"), socketPath: directory.controlSocketPath,
                                          timeout: .seconds(5))) != nil {
            throw .control(.alreadyRunning(directory.controlSocketPath))
        }
        var peers = directory.rememberedPeers()
        for peer in options.peers where !peers.contains(peer) { peers.append(peer) }
        let configuration = NodeConfiguration(identity: identity, dataDirectory: directory.storePath,
                                              listen: options.listen, advertised: options.advertised, peers: peers,
                                              displayName: options.displayName ?? directory.savedName())
        let node: Node
        do { node = try Node(configuration: configuration) } catch { throw .node(error) }
        do {
            try await node.start()
        } catch {
            await node.stop()
            throw .listen("\(options.listen): \(Self.listenFailure(error))")
        }
        guard let listening = await node.listeningOn else {
            await node.stop()
            throw .listen("the node did not report a listening address")
        }
        var discovery: LANDiscovery?
        if options.lan {
            do {
                discovery = try await LANDiscovery.bind(configuration: .init(tcpPort: listening.port),
                                                        conversations: await node.conversations)
            } catch {
                await node.stop()
                throw .discovery("\(error)")
            }
        }
        let (stops, stopSink) = AsyncStream<Void>.makeStream()
        let lan = discovery
        let gate = WriteGate()
        let handle: @Sendable (ControlRequest) async -> ControlResponse = { request in
            let response = await NodeControl.handle(request, node: node, gate: gate, stop: { stopSink.yield() })
            if response.ok, request.command == "join", let address = request.arguments["address"].flatMap(PeerEndpoint.init) {
                do { try directory.remember(address) } catch { log("\(error)") }
            }
            if let lan, ["create", "join"].contains(request.command) { lan.setConversations(await node.conversations) }
            return response
        }
        let server: ControlServer
        do {
            server = try await ControlServer.start(socketPath: directory.controlSocketPath, handler: handle)
        } catch {
            lan?.stop()
            await node.stop()
            throw .control(error)
        }
        started(Started(key: identity.publicKey.text, listening: listening, controlSocket: server.socketPath))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in shutdown { break }
                stopSink.yield()
            }
            group.addTask {
                for await event in node.events {
                    Self.log(event, to: options.logger)
                }
            }
            if let lan {
                group.addTask {
                    do {
                        try await lan.run(clock: ContinuousClock())
                    } catch where !(error is CancellationError) {
                        log("LAN discovery stopped: \(error)")
                    } catch {}
                }
                group.addTask {
                    for await found in lan.discoveries { await node.connect(to: PeerEndpoint(host: found.host, port: found.port)) }
                }
            }
            for service in options.services {
                group.addTask { await service(handle) }
            }
            for await _ in stops { break }
            group.cancelAll()
            lan?.stop()
        }
        // Let the answer to a `stop` request reach its client before the socket closes.
        try? await Task.sleep(for: .milliseconds(100))
        await server.close()
        await node.stop()
    }
}
