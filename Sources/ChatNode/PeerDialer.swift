import ChatControl
import ChatSync

/// The redial loop of one address (``NodeDirective/dial(_:seed:)``): dial, run the session to its
/// end, wait, dial again, until cancelled or its node is released. The node's machine says when
/// to wait instead of dialing (``NodeMachine/redialDelay(for:)``); otherwise the wait grows with
/// failures and short sessions (``ReconnectBackoff``), and is at least what a misbehaving
/// session asked for.
enum PeerDialer {
    static func start(_ endpoint: PeerEndpoint, backoff: ReconnectBackoff, clock: NodeClock, node: Node) -> Task<Void, Never> {
        Task { [weak node] in
            var backoff = backoff
            while !Task.isCancelled {
                guard let node else { return }
                let delay: Duration
                if let wait = await node.redialDelay(for: endpoint) {
                    delay = wait
                } else {
                    do {
                        let channel = try await PeerConnection.connect(host: endpoint.host, port: endpoint.port)
                        let ending = await node.serve(channel, role: .dialer(endpoint))
                        delay = max(backoff.failed(sessionLength: ending.length), ending.backOff ?? .zero)
                    } catch {
                        await node.dialFailed()
                        delay = backoff.failed()
                    }
                }
                do { try await clock.sleep(for: delay) } catch { return }
            }
        }
    }
}

/// The redial loops of the addresses a node keeps dialing, one per address.
struct PeerDialers: Sendable {
    private var loops: [PeerEndpoint: Task<Void, Never>] = [:]

    /// Starts the redial loop of `endpoint` (see ``PeerDialer``) with `configuration`'s back-off
    /// seeded by `seed`, replacing the one before.
    mutating func start(_ endpoint: PeerEndpoint, seed: UInt64, configuration: NodeConfiguration, node: Node) {
        loops[endpoint]?.cancel()
        let backoff = ReconnectBackoff(initial: configuration.reconnectInitial, maximum: configuration.reconnectMaximum,
                                       seed: seed)
        loops[endpoint] = PeerDialer.start(endpoint, backoff: backoff, clock: configuration.clock, node: node)
    }

    /// Stops the redial loop of `endpoint` (a session it runs goes on).
    mutating func stop(_ endpoint: PeerEndpoint) {
        loops.removeValue(forKey: endpoint)?.cancel()
    }

    /// Every loop, to wait on once they were all told to stop.
    var all: [Task<Void, Never>] { Array(loops.values) }
}
