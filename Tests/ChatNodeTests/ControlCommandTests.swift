import ChatControl
import ChatCore
import ChatNode
import Testing

/// The typed control API (issue 16): every command goes to a request and back unchanged, a
/// request's arguments are checked with stable codes, and the names are the documented ones.
struct ControlCommandTests {
    static let terms = ControlCommand.LinkTerms(permission: .edit, expiresAt: 1_800_000_000_000, useLimit: 3, label: "team")
    static let endpoint = PeerEndpoint("127.0.0.1:7400")

    static let every: [ControlCommand] = [
        .create(title: "Team", isPublic: true),
        .invite(conversation: "9f3a", terms: terms),
        .join(token: "streamingchat://join?token=00", address: endpoint, timeoutSeconds: 5),
        .join(token: "e754ce6b", address: nil, timeoutSeconds: nil),
        .decline(token: "e754ce6b", address: nil, timeoutSeconds: 15),
        .send(conversation: "9f3a", text: "hello, world"),
        .edit(conversation: "9f3a", message: "aaaaaaaa:3", text: "fixed"),
        .delete(conversation: "9f3a", message: "aaaaaaaa:3"),
        .revoke(conversation: "9f3a", member: "ben"),
        .grant(conversation: "9f3a", member: "sc1ben", permission: .admin),
        .linkCreate(conversation: "9f3a", terms: terms, invitee: "cat"),
        .linkCreate(conversation: "9f3a", terms: ControlCommand.LinkTerms(permission: .view), invitee: nil),
        .linkList(conversation: "9f3a"),
        .linkRevoke(conversation: "9f3a", token: "e754"),
        .invitations(conversation: "9f3a"),
        .invitationsReceived,
        .requestAccess(conversation: "9f3a", permission: .comment, note: "please"),
        .requests(conversation: "9f3a"),
        .mode(conversation: "9f3a", isPublic: false),
        .audit(conversation: "9f3a", query: ControlCommand.AuditQuery(
            user: "ben", actions: [.linkUsed, .invitationDeclined], since: 1, until: 2, csv: true)),
        .audit(conversation: "9f3a", query: ControlCommand.AuditQuery()),
        .log(conversation: "9f3a"),
        .members(conversation: "9f3a"),
        .status,
        .conversations,
        .stop,
    ]

    @Test func everyCommandRoundTripsThroughItsRequest() throws {
        for command in Self.every {
            #expect(try ControlCommand(command.request) == command, "\(command)")
        }
        #expect(Set(Self.every.map(\.name)) == Set(ControlCommand.names))
        #expect(NodeControl.commands == ControlCommand.names + NodeChatControl.commands)
    }

    @Test func writesAreTheCommandsThatSign() {
        let writes = Set(Self.every.filter(\.isWrite).map(\.name))
        #expect(writes == ["create", "send", "edit", "delete", "revoke", "grant", "link_create", "link_revoke",
                           "request_access", "mode"])
    }

    @Test(arguments: [
        (ControlRequest(command: "nope"), "unknown_command"),
        (ControlRequest(command: "send", arguments: ["conversation": "9f3a"]), "missing_argument"),
        (ControlRequest(command: "grant", arguments: ["conversation": "9f3a", "member": "ben", "permission": "owner"]),
         "invalid_argument"),
        (ControlRequest(command: "grant", arguments: ["conversation": "9f3a", "member": "ben"]), "missing_argument"),
        (ControlRequest(command: "create", arguments: ["title": "x", "public": "yes"]), "invalid_argument"),
        (ControlRequest(command: "join", arguments: ["token": "x", "address": "nowhere"]), "invalid_argument"),
        (ControlRequest(command: "join", arguments: ["token": "x", "timeout": "-1"]), "invalid_argument"),
        (ControlRequest(command: "audit", arguments: ["conversation": "9f3a", "format": "xml"]), "invalid_argument"),
        (ControlRequest(command: "audit", arguments: ["conversation": "9f3a", "actions": "link_used,bogus"]), "invalid_argument"),
        (ControlRequest(command: "invite", arguments: ["conversation": "9f3a", "useLimit": "99999999999"]), "invalid_argument"),
    ])
    func badRequestsAreRefusedWithTheirCode(request: ControlRequest, code: String) {
        #expect(throws: ControlCommandError.self) { try ControlCommand(request) }
        do {
            _ = try ControlCommand(request)
        } catch {
            #expect(error.code == code, "\(request)")
        }
    }

    @Test func defaultsAreTheDocumentedOnes() throws {
        // invite gives comment, a link view; join waits 15 s when the node is given no timeout.
        let invite = try ControlCommand(ControlRequest(command: "invite", arguments: ["conversation": "9f3a"]))
        #expect(invite == .invite(conversation: "9f3a", terms: ControlCommand.LinkTerms(permission: .comment)))
        let link = try ControlCommand(ControlRequest(command: "link_create", arguments: ["conversation": "9f3a"]))
        #expect(link == .linkCreate(conversation: "9f3a", terms: ControlCommand.LinkTerms(permission: .view), invitee: nil))
    }
}
