import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Foundation
import NIOCore

/// A short invite code: the address of a member's node and the code's secret,
/// `host:port/` followed by 16 base32 characters (`192.168.1.10:7400/k3mq7x2pa9d4rbwe`), at most
/// 60 characters for any IPv4 address or host name up to 38 characters. The conversation's log
/// keeps only the secret's lookup hash and the link's token sealed under it (``InviteCodeRecord``).
public struct InviteCode: Sendable, Hashable, CustomStringConvertible {
    /// The node to ask.
    public var endpoint: PeerEndpoint
    /// The secret (``InviteCodeCrypto/secretBytes``).
    public var secret: [UInt8]

    public init(endpoint: PeerEndpoint, secret: [UInt8]) {
        self.endpoint = endpoint
        self.secret = secret
    }

    /// Parses `host:port/secret` (the secret in either case); nil for anything else.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let slash = trimmed.lastIndex(of: "/"), !trimmed.contains("://"),
              let endpoint = PeerEndpoint(String(trimmed[..<slash])),
              let secret = InviteCodeCrypto.secret(fromText: trimmed[trimmed.index(after: slash)...]) else { return nil }
        self.init(endpoint: endpoint, secret: secret)
    }

    public var description: String { "\(endpoint)/\(InviteCodeCrypto.text(of: secret))" }

    /// The lookup hash members' nodes know the code by.
    public var lookup: [UInt8] { InviteCodeCrypto.lookup(of: secret) }
}
