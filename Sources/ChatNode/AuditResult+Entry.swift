import ChatControl
import ChatCore
import ChatCrypto

extension AuditResult.Entry {
    /// The entry of `entry`, naming members by `names` where they have one.
    public init(_ entry: AuditEntry, names: [ReplicaID: String] = [:]) {
        self.init(at: entry.at, action: entry.action.rawValue, actor: PublicKey(entry.actor).text,
                  actorName: names[entry.actor], target: entry.target.map { PublicKey($0).text },
                  targetName: entry.target.flatMap { names[$0] }, message: entry.message.map(MessageReference.text),
                  detail: entry.detail, opID: entry.opID.map(MessageReference.text))
    }
}
