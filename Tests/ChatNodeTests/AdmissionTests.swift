import ChatCore
import ChatCrypto
@testable import ChatNode
import ChatSync
import ChatWire
import Testing

/// Signed join admissions: verification of untrusted bytes, and the pending join that keeps one
/// across restarts.
@Suite struct AdmissionTests {
    let admitter = try! SigningKey(seed: Array(repeating: 71, count: 32)) // SAFETY: a 32-byte seed always makes a key
    let joiner = try! SigningKey(seed: Array(repeating: 72, count: 32)) // SAFETY: as above
    let conversation = ConversationID(bytes: Array(repeating: 0xC1, count: 32))!

    func admission(usesSeen: UInt32 = 3) -> SignedAdmission {
        SignedAdmission(content: JoinAdmission(
            conversation: conversation, joiner: joiner.publicKey.replicaID, tokenID: Array(repeating: 9, count: 16),
            admitter: admitter.publicKey.replicaID, admittedAt: 1_750_000_000_000, usesSeen: usesSeen)) { admitter.sign($0).bytes }
    }

    @Test func onlyAnIntactAdmissionByItsAdmitterVerifies() throws {
        let signed = admission()
        #expect(ConversationInputs.verifyAdmission(signed.bytes) == signed.content)
        #expect(try SignedAdmission(decoding: signed.bytes) == signed)
        // A flipped bit anywhere: the signature no longer verifies (or the bytes no longer decode).
        for index in [4, 40, 100, signed.bytes.count - 70, signed.bytes.count - 1] {
            var tampered = signed.bytes
            tampered[index] ^= 0x01
            #expect(ConversationInputs.verifyAdmission(tampered) == nil, "bit flipped at \(index)")
        }
        // Signed by someone else than the admitter it names.
        let forged = SignedAdmission(content: signed.content) { joiner.sign($0).bytes }
        #expect(ConversationInputs.verifyAdmission(forged.bytes) == nil)
        // Truncated, oversized, trailing bytes, another record kind: typed errors.
        #expect(throws: WireError.self) { try SignedAdmission(decoding: Array(signed.bytes.prefix(50))) }
        #expect(throws: WireError.self) { try SignedAdmission(decoding: signed.bytes + [0]) }
        #expect(throws: WireError.self) { try SignedAdmission(decoding: [UInt8](repeating: 1, count: SignedAdmission.maxBytes + 1)) }
        var otherKind = signed.bytes
        otherKind[3] = 2
        #expect(throws: WireError.self) { try SignedAdmission(decoding: otherKind) }
        #expect(ConversationInputs.verifyAdmission([]) == nil)
    }

    @Test func aPendingJoinKeepsItsAdmissionAndOldRecordsStillLoad() {
        let token: [UInt8] = Array(1 ... 40)
        let signed = admission()
        let saved = PendingJoin.encode(token: token, admission: signed.bytes)
        #expect(PendingJoin.decode(saved)?.token == token && PendingJoin.decode(saved)?.admission == signed.bytes)
        let none = PendingJoin.decode(PendingJoin.encode(token: token, admission: []))
        #expect(none?.token == token && none?.admission == [])
        // Version 1: the token alone.
        let versionOne: [UInt8] = [1, UInt8(token.count)] + token
        #expect(PendingJoin.decode(versionOne)?.token == token && PendingJoin.decode(versionOne)?.admission == [])
        // Unreadable records are ignored, not trusted.
        for bytes: [UInt8] in [[], [3, 1, 1], [2, 0], [2, 5, 1, 2], Array(saved.dropLast())] {
            #expect(PendingJoin.decode(bytes) == nil, "\(bytes.prefix(8))")
        }
    }
}
