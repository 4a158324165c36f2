import ChatCore
import ChatCrypto
import Synchronization

/// The node's HTTP access secret (`DIR/http.key`) and what is derived from it.
///
/// - Apps send the key itself as `Authorization: Bearer <key>`.
/// - A person opens the one-time address `streamingchat ui` prints: `/login?code=…`. The code is
///   `EXPIRES.NONCE.MAC` (expiry in Unix seconds, 16 random bytes, a keyed BLAKE2b of both), good
///   for ``loginLifetime`` seconds and for one use. The login answers with an `HttpOnly`,
///   `SameSite=Strict` cookie holding ``sessionValue`` (derived from the key, so it outlives a
///   restart of the node but is not the key), and the page never holds a secret a script could read.
public struct AccessKey: Sendable {
    public let key: String

    /// How long a login code stays good, in seconds.
    public static let loginLifetime: UInt64 = 300
    /// How long a login lasts in the browser, in seconds (30 days).
    public static let sessionLifetime = 30 * 24 * 3600

    /// The session cookie's name, one per node: browsers scope cookies by host and not by port,
    /// so nodes side by side on 127.0.0.1 (the demo's three) must not overwrite each other's.
    public var cookieName: String { "streamingchat-" + String(Hex.encode(mac("cookie name")).prefix(12)) }

    public init(_ key: String) { self.key = key }

    /// A one-time login code that expires `loginLifetime` seconds after `now` (Unix seconds).
    public func loginCode(now: UInt64, nonce: [UInt8]) -> String {
        let expires = now + Self.loginLifetime
        return "\(expires).\(Hex.encode(nonce)).\(Hex.encode(mac("login \(expires) \(Hex.encode(nonce))")))"
    }

    /// The nonce of a login code that is well formed, correctly signed and not expired at `now`;
    /// nil otherwise. (Single use is the server's to enforce: ``LoginCodes``.)
    func nonce(ofLoginCode code: String, now: UInt64) -> String? {
        let parts = code.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let expires = UInt64(parts[0]), parts[1].count == 32, Hex.decode(parts[1]) != nil,
              now <= expires, expires <= now + Self.loginLifetime,
              constantTimeEqual(Array(parts[2].utf8), Array(Hex.encode(mac("login \(expires) \(parts[1])")).utf8)) else {
            return nil
        }
        return parts[1]
    }

    /// The session cookie's value.
    public var sessionValue: String { Hex.encode(mac("session")) }

    /// A keyed BLAKE2b of `message` under the key.
    private func mac(_ message: String) -> [UInt8] {
        let keyBytes = Array(key.utf8)
        // The key file holds 64 hex characters; anything else is hashed to a key of legal length.
        let macKey = (16 ... 64).contains(keyBytes.count) ? keyBytes : Hashing.blake2b(keyBytes)
        return Hashing.blake2b(Array(message.utf8), key: macKey) ?? []
    }
}

/// The login codes already used while the server runs, so each works once. Codes expire within
/// ``AccessKey/loginLifetime``, so entries older than that are dropped: O(logins in 5 minutes).
final class LoginCodes: Sendable {
    private let used = Mutex<[String: UInt64]>([:])

    /// True the first time `nonce` is redeemed (before `expires`), false after.
    func redeem(_ nonce: String, now: UInt64) -> Bool {
        used.withLock { used in
            used = used.filter { $0.value + AccessKey.loginLifetime >= now }
            guard used[nonce] == nil else { return false }
            used[nonce] = now
            return true
        }
    }
}

/// Equal in time that depends only on the lengths.
func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}
