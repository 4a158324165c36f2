import ArgumentParser
import ChatControl
import ChatHTTP
import ChatNode
import Foundation
import Logging
import Metrics
import Prometheus

/// The data directory option every daemon and client command shares.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The node's data directory (identity, store, control socket).",
        discussion: "Default: $STREAMINGCHAT_HOME, else $XDG_DATA_HOME/streamingchat, else ~/.local/share/streamingchat."))
    var data: String?

    /// The data directory to use.
    var directory: DataDirectory { DataDirectory(path: data ?? DataDirectory.defaultPath()) }
}

extension StreamingChat {
    /// `streamingchat serve`: run a node as a daemon, driven through its control socket.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a node in the foreground until SIGINT, SIGTERM or `streamingchat stop`.",
            discussion: """
            Creates the data directory (mode 0700) and the identity if needed, listens for peers on --listen \
            (default 127.0.0.1:7400; use 0.0.0.0:PORT with --advertise HOST:PORT to be reachable from other \
            machines, port 0 for any free port), keeps dialling --peer addresses and the addresses joined \
            through earlier, and serves the other subcommands on DATA/control.sock. Prints one line once ready.
            """)

        @OptionGroup var dataOptions: DataOptions

        @Option(help: "Where to listen for peers, host:port (port 0: any free port).")
        var listen = "127.0.0.1:7400"

        @Option(help: "The address put into invites, host:port (default: the listening address).")
        var advertise: String?

        @Option(name: .customLong("peer"), help: "A peer to keep connected to, host:port (repeatable).")
        var peers: [String] = []

        @Flag(help: "Announce and find peers on the local network (UDP broadcast).")
        var lan = false

        @Option(parsing: .unconditional, help: "Your display name in conversations this node creates or joins.")
        var name: String?

        @Option(help: "Where the HTTP API and browser UI listen, on loopback (port 0: any free port), or `off`.")
        var http = "127.0.0.1:0"

        @Option(help: "What the daemon logs on stderr: trace, debug, info (sessions, joins, removals), notice, warning, error or critical.")
        var logLevel = "info"

        func validate() throws {
            try TerminalText.checkName(name)
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            guard let listening = parseListen(listen) else { try usage("--listen must be host:port, not \(listen)") }
            var advertised: PeerEndpoint?
            if let advertise {
                guard let parsed = PeerEndpoint(advertise) else { try usage("--advertise must be host:port, not \(advertise)") }
                advertised = parsed
            }
            var endpoints: [PeerEndpoint] = []
            for peer in peers {
                guard let parsed = PeerEndpoint(peer) else { try usage("--peer must be host:port, not \(peer)") }
                endpoints.append(parsed)
            }
            // swift-log on stderr at the chosen level; swift-metrics into a Prometheus registry
            // that the HTTP API exports on /metrics.
            let level = Logger.Level(rawValue: logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            let logger = Logger(label: "streamingchat")
            var services: [NodeDaemon.Options.Service] = []
            if http != "off" {
                guard let endpoint = parseListen(http) else { try usage("--http must be host:port or off, not \(http)") }
                guard ["127.0.0.1", "::1", "localhost"].contains(endpoint.host) else {
                    try usage("--http serves on loopback only (127.0.0.1, ::1 or localhost), not \(endpoint.host)")
                }
                services.append(Self.httpService(endpoint, directory: dataOptions.directory, metrics: registry))
            }
            let options = NodeDaemon.Options(dataDirectory: dataOptions.directory, listen: listening, advertised: advertised,
                                             peers: endpoints, lan: lan, displayName: name, services: services, logger: logger)
            let signals = ShutdownSignals(label: "streamingchat.signals")
            defer { signals.cancel() }
            do {
                try await NodeDaemon.run(options, shutdown: signals.stream, started: { started in
                    // Unbuffered: scripts wait for this line.
                    FileHandle.standardOutput.write(Data(
                        "streamingchat: node \(started.key) listening on \(started.listening), control socket \(started.controlSocket)\n".utf8))
                }, log: { logger.error("\($0)") })
            } catch {
                throw CommandFailure("\(error)")
            }
        }

        /// The HTTP API and browser UI, once the node runs: its key is made on first use (after the
        /// data directory was checked), and its address written for `streamingchat ui`.
        static func httpService(_ endpoint: PeerEndpoint, directory: DataDirectory,
                                metrics: PrometheusCollectorRegistry) -> NodeDaemon.Options.Service {
            { handle in
                do {
                    let server = ChatHTTPServer(key: try directory.httpKey(), metrics: { metrics.emitToString() }, handle: handle)
                    try await server.run(host: endpoint.host, port: endpoint.port) { port in
                        let host = endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host
                        let address = "http://\(host):\(port)/"
                        _ = FileManager.default.createFile(atPath: directory.httpAddressPath, contents: Data((address + "\n").utf8),
                                                       attributes: [.posixPermissions: 0o600])
                        FileHandle.standardOutput.write(Data(
                            "streamingchat: browser UI and HTTP API on \(address) (streamingchat ui prints it with the key)\n".utf8))
                    }
                } catch where !(error is CancellationError) {
                    Logger(label: "streamingchat.http").error("the HTTP API stopped: \(error)")
                } catch {}
            }
        }

        /// `host:port` where port 0 is allowed (``PeerEndpoint`` refuses it for dialling).
        private func parseListen(_ text: String) -> PeerEndpoint? {
            if text.hasSuffix(":0") { return PeerEndpoint(text.dropLast() + "1").map { PeerEndpoint(host: $0.host, port: 0) } }
            return PeerEndpoint(text)
        }
    }
}

/// Prints a usage error and exits with status 2.
func usage(_ message: String) throws -> Never {
    throw CommandFailure("\(message)", exitCode: 2)
}

extension StreamingChat {
    /// `streamingchat ui [conversation] [--open]`: the running node's browser UI, with its key.
    struct UI: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ui", abstract: "Print a one-time address that logs in to the running node's browser UI (or open it).",
            discussion: """
            The address works once, within 5 minutes, and leaves a session cookie in the browser. Apps use the \
            HTTP API with the key in DATA/http.key as `Authorization: Bearer <key>`.
            """)

        @OptionGroup var dataOptions: DataOptions
        @Argument(help: "A conversation to open: an unambiguous id prefix, or its title.") var conversation: String?
        @Flag(help: "Open it in the default browser (xdg-open).") var open = false

        func run() async throws {
            let directory = dataOptions.directory
            guard let address = try? String(contentsOfFile: directory.httpAddressPath, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines), !address.isEmpty,
                  let key = try? String(contentsOfFile: directory.httpKeyPath, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines) else {
                throw CommandFailure("no browser UI here: start the node with `streamingchat serve` (without --http off)")
            }
            _ = try await Control.call(.status, data: dataOptions) // the node must be running
            // A one-time login: the page gets a session cookie and the address no secret.
            var generator = SystemRandomNumberGenerator()
            let nonce = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
            var url = address + "login?code=" + AccessKey(key).loginCode(now: UInt64(Date().timeIntervalSince1970), nonce: nonce)
            if let conversation {
                let result = try await Control.call(.members(conversation: conversation), data: dataOptions)
                if let id = (try? result.decoded(as: MembersResult.self))?.conversation { url += "&conversation=" + id }
            }
            print(url)
            if open {
                // Not on the command line, where other local users can read it (/proc/*/cmdline):
                // the browser is given an owner-only page in the data directory that goes on to it.
                let page = directory.path + "/ui-open.html"
                let html = "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url=\(url.replacingOccurrences(of: "&", with: "&amp;"))\"><title>StreamingChat</title>\n"
                try? FileManager.default.removeItem(atPath: page)
                guard FileManager.default.createFile(atPath: page, contents: Data(html.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw CommandFailure("cannot write \(page); open the address above instead")
                }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["xdg-open", URL(fileURLWithPath: page).absoluteString]
                try? process.run()
            }
        }
    }
}
