import ChatCrypto
import Testing

/// Short invite codes (issue 19): the secret's text form survives case changes, the lookup hides
/// the secret, and only the code's secret opens the sealed token.
struct InviteCodeCryptoTests {
    @Test func onlyTheCodesSecretOpensTheSealedToken() throws {
        let secret = InviteCodeCrypto.newSecret()
        #expect(secret.count == 10)
        let text = InviteCodeCrypto.text(of: secret)
        #expect(text.count == 16 && text.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
        #expect(InviteCodeCrypto.secret(fromText: text) == secret)
        #expect(InviteCodeCrypto.secret(fromText: text.uppercased()) == secret)
        #expect(InviteCodeCrypto.secret(fromText: text.dropLast()) == nil)
        #expect(InviteCodeCrypto.secret(fromText: "0000000000000000") == nil, "0 and 1 are not in the alphabet")

        let token = Array(0 ..< 180).map { UInt8($0) }
        let sealed = InviteCodeCrypto.seal(token, secret: secret)
        #expect(sealed.count == token.count + InviteCodeCrypto.sealOverhead)
        #expect(InviteCodeCrypto.open(sealed, secret: secret) == token)
        #expect(InviteCodeCrypto.open(sealed, secret: InviteCodeCrypto.newSecret()) == nil)
        var changed = sealed
        changed[changed.count - 1] ^= 1
        #expect(InviteCodeCrypto.open(changed, secret: secret) == nil)
        #expect(InviteCodeCrypto.open(Array(sealed.prefix(20)), secret: secret) == nil)
        #expect(InviteCodeCrypto.lookup(of: secret).count == 32)
        #expect(InviteCodeCrypto.lookup(of: secret) != InviteCodeCrypto.lookup(of: InviteCodeCrypto.newSecret()))
    }
}
