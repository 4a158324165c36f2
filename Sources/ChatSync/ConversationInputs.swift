import ChatCore
import ChatCrypto
import ChatWire

/// Turns wire-level batches and tokens into what the pure conversation rules consume.
public enum ConversationInputs {
    /// Decodes a signed invite token and checks its issuer's signature (deterministic).
    public static let verifyInvite: InviteVerifier = { bytes in
        guard let token = try? InviteToken(decoding: bytes),
              let signature = Signature(bytes: token.signature),
              PublicKey(token.content.issuer).isValidSignature(signature, for: token.signedBytes)
        else { return nil }
        let content = token.content
        return InviteGrant(conversation: content.conversation, permission: content.permission, issuer: content.issuer,
                           tokenID: content.tokenID, expiresAt: content.expiresAt, useLimit: content.useLimit)
    }

    /// Decodes a signed join admission and checks its admitter's signature (deterministic).
    public static let verifyAdmission: AdmissionVerifier = { bytes in
        guard let admission = try? SignedAdmission(decoding: bytes),
              let signature = Signature(bytes: admission.signature),
              PublicKey(admission.content.admitter).isValidSignature(signature, for: admission.signedBytes)
        else { return nil }
        return admission.content
    }

    /// The conversation-level view of a verified batch, with the causal past its dependencies
    /// derive.
    public static func operationBatch(_ batch: SignedBatch, past: VectorClock) -> OperationBatch {
        batch.operationBatch(past: past)
    }
}
