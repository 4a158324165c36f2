import ChatControl
import ChatCore
import ChatCrypto
@testable import ChatNode
import Testing

/// The control results are the CLI's `--json` contract: their field names, and which fields are
/// left out when absent, are pinned here.
@Suite struct ControlResultsTests {
    func json(_ value: some Encodable) throws -> String { try JSONValue(encoding: value).jsonString(pretty: false) }

    @Test func fieldNamesStayAsTheContractSays() throws {
        #expect(try json(ConversationResult(conversation: "c1")) == #"{"conversation":"c1"}"#)
        #expect(try json(InviteResult(conversation: "c1", token: "ab", code: nil)) == #"{"conversation":"c1","token":"ab"}"#)
        #expect(try json(InviteResult(conversation: "c1", token: "ab", code: "h:1/XY"))
                == #"{"code":"h:1/XY","conversation":"c1","token":"ab"}"#)
        #expect(try json(LinkRevokedResult(conversation: "c1", tokenID: "7a")) == #"{"conversation":"c1","tokenID":"7a"}"#)
        #expect(try json(GrantResult(conversation: "c1", member: "sc1x", permission: "edit"))
                == #"{"conversation":"c1","member":"sc1x","permission":"edit"}"#)
        #expect(try json(AccessRequestResult(conversation: "c1", permission: "comment")) == #"{"conversation":"c1","permission":"comment"}"#)
        #expect(try json(AccessRequestResult(conversation: "c1", permission: "comment", peers: 0))
            == #"{"conversation":"c1","peers":0,"permission":"comment"}"#)
        #expect(try json(ModeResult(conversation: "c1", isPublic: true)) == #"{"conversation":"c1","public":true}"#)
        #expect(try json(AuditResult(conversation: "c1", csv: "at\n")) == #"{"conversation":"c1","csv":"at\n"}"#)
        #expect(try json(MessageResult(conversation: "c1", id: "9f:4")) == #"{"conversation":"c1","id":"9f:4"}"#)
        #expect(try json(MemberRemovedResult(conversation: "c1", member: "sc1x")) == #"{"conversation":"c1","member":"sc1x"}"#)
        #expect(try json(LogResult(conversation: "c1", messages: [])) == #"{"conversation":"c1","messages":[]}"#)
        #expect(try json(MembersResult(conversation: "c1", members: [])) == #"{"conversation":"c1","members":[]}"#)
        #expect(try json(LinksResult(links: [])) == #"{"links":[]}"#)
        #expect(try json(InvitationsResult(invitations: [])) == #"{"invitations":[]}"#)
        #expect(try json(ReceivedInvitationsResult(invitations: [])) == #"{"invitations":[]}"#)
        #expect(try json(AccessRequestsResult(requests: [])) == #"{"requests":[]}"#)
        #expect(try json(ConversationsResult(conversations: [])) == #"{"conversations":[]}"#)
        #expect(try json(StopResult()) == #"{"stopping":true}"#)
    }

    @Test func auditEntriesNameWhatTheyHave() throws {
        let actor = try SigningKey(seed: Array(repeating: 5, count: 32)).publicKey.replicaID
        let entry = AuditEntry(at: 1_750_000_000_000, action: .accessRevoked, actor: actor, detail: "")
        let result = AuditResult(conversation: "c1", entries: [AuditResult.Entry(entry, names: [actor: "Ana"])])
        let text = try json(result)
        #expect(text == #"{"conversation":"c1","entries":[{"action":"\#(entry.action.rawValue)","actor":"\#(PublicKey(actor).text)","actorName":"Ana","at":1750000000000,"detail":""}]}"#)
        #expect(try JSONValue(encoding: result).decoded(as: AuditResult.self) == result)
    }
}
