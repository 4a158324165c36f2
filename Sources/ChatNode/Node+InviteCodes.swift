import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Foundation
import NIOCore

extension Node {
    /// Asks the code's node for the link the code names and opens its token with the code's
    /// secret. The session is a stranger's: it asks for no conversation, shows no token, and
    /// ends with the answer.
    /// - Throws: `invalid_invite` when no node there knows the code (or the answer does not open),
    ///   `timed_out` when it does not answer in time.
    public func resolveInviteCode(_ code: InviteCode, timeout: Duration = .seconds(15)) async throws(NodeCommandError) -> [UInt8] {
        var session = configuration.session
        session.conversations = []
        session.inviteToken = nil
        session.codeLookup = code.lookup
        var randomness = SystemRandomNumberGenerator()
        let machine = SessionStateMachine(role: .dialer, identity: identity, configuration: session,
                                          admission: { _ in .admit(conversations: []) }, randomness: &randomness)
        let clock = configuration.clock
        let outcome: Result<[UInt8], NodeCommandError> = await withTaskGroup(of: Result<[UInt8], NodeCommandError>?.self) { group in
            group.addTask {
                let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
                do {
                    channel = try await PeerConnection.connect(host: code.endpoint.host, port: code.endpoint.port)
                } catch {
                    return .failure(.timedOut("no node answers at \(code.endpoint) (\(error))"))
                }
                let (events, sink) = AsyncStream<PeerEvent>.makeStream()
                let (commands, _) = AsyncStream<PeerCommand>.makeStream()
                async let running: Void = PeerConnection.run(channel, session: machine, outgoing: commands, events: sink,
                                                             clock: clock, window: InboundWindow(limit: 1 << 20))
                var result: Result<[UInt8], NodeCommandError> = .failure(.joinRefused(.invalidInvite))
                for await event in events {
                    switch event {
                    case .codeResolved(let sealed):
                        // The one this code's secret opens (others were sealed under other secrets).
                        if let token = sealed.lazy.compactMap({ InviteCodeCrypto.open($0, secret: code.secret) }).first {
                            result = .success(token)
                        }
                    case .closed(.refusedByPeer(let reason)?) where reason != .goingAway:
                        result = .failure(.joinRefused(reason))
                    default:
                        break
                    }
                }
                await running
                return result
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(.timedOut("resolving the invite code at \(code.endpoint)"))
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(.timedOut("resolving the invite code"))
        }
        return try outcome.get()
    }
}
