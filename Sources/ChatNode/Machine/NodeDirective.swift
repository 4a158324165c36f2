import ChatControl
import ChatCore
import ChatSync
import ChatWire

/// What ``NodeMachine`` asks the node's shell to do. The shell carries each one out as given and
/// decides nothing: the policy behind it (who to dial, which session of a pair to keep, whom a
/// revocation disconnects) is the machine's.
enum NodeDirective: Sendable, Hashable {
    /// Send a frame over a session.
    case send(DataFrame, link: Int)
    /// Close a session, telling the peer why.
    case close(link: Int, RefuseCode)
    /// Keep a session with this address: dial it now and redial it with back-off (seeded).
    case dial(PeerEndpoint, seed: UInt64)
    /// Stop dialing this address (its sessions are left to end on their own).
    case stopDialing(PeerEndpoint)
    /// Start replicating these conversations over a session just established: the shell reads
    /// each replica's clock and hands it to ``NodeMachine/onClockRead(link:_:localClock:now:membership:)``.
    case replicate(link: Int, conversations: [ConversationID])
    /// Call ``NodeMachine/onTimer(_:now:wallNow:membership:)`` with this timer after the delay
    /// (replaces the timer armed before).
    case armTimer(NodeTimer, after: Duration)
    /// The timer is no longer wanted (a session stopped replicating a conversation).
    case cancelTimer(NodeTimer)
    /// Read from the store, in causal order, at most `limit` batches not covered by `above`, and
    /// hand them to ``NodeMachine/onStoredBatchesLoaded(_:link:_:now:)``.
    case loadStoredBatches(link: Int, ConversationID, above: VectorClock, limit: Int)
    /// Authenticate, verify, store and apply the batches a peer sent, and hand the outcome to
    /// ``NodeMachine/onIngested(authentic:wanted:link:_:)`` and ``NodeMachine/onCommitted(_:clockAfter:evidence:in:now:membership:)``.
    case ingest([[UInt8]], link: Int, ConversationID)
    /// Load the batches a peer wants by hash and hand them to ``NodeMachine/onWantedLoaded(_:link:_:)``.
    case loadWanted([BatchDependency], link: Int, ConversationID)
    /// A non-member asks this member to vouch for its public join: the shell reads how many of
    /// this node's public admissions were accepted in the last hour and hands that to
    /// ``NodeMachine/onPublicJoinRead(_:link:acceptedThisHour:wallNow:membership:)``.
    case readPublicAdmissions(ConversationID, link: Int)
    /// Remember durably where a member listens, for these conversations (redialled after a restart).
    case rememberAddress(ReplicaID, PeerEndpoint, conversations: [ConversationID])
    /// Tell the user interface.
    case emit(NodeEvent)
    /// Record a peer session for the audit trail.
    case recordSession(ReplicaID, connected: Bool, conversations: [ConversationID])
    /// The number of established sessions changed (a metric).
    case sessionsOpen(Int)
    /// A session was established and kept: the shell reads what the machine needs to decide
    /// next (a joiner's token against the conversation's links, the invitations open for the
    /// peer) and hands it back to the machine.
    case welcome(link: Int)
    /// Sign this admission with the node's key and hand it to
    /// ``NodeMachine/onAdmissionSigned(_:_:link:)``.
    case signAdmission(JoinAdmission, link: Int)
    /// Sign this node's ephemeral update and hand it to ``NodeMachine/onEphemeralSigned(_:in:wallNow:)``.
    case signEphemeral(EphemeralUpdate)
    /// Store the pending join of this conversation (or its absence) durably.
    case savePendingJoin(ConversationID)
    /// Record the join of this conversation once its history has arrived.
    case completeJoin(ConversationID)
    /// The join of this conversation was given up: forget the conversation when nothing of it
    /// arrived (see ``NodeMachine/abandonJoin(_:)``).
    case abandonJoin(ConversationID)
}

/// A timer the machine asks the shell to arm (``NodeDirective/armTimer(_:after:)``).
enum NodeTimer: Sendable, Hashable {
    /// The replication machine of a conversation on a session: anti-entropy rounds.
    case replication(link: Int, ConversationID)
    /// This node's paced presence in a conversation (see ``NodeMachine/onPublish(_:in:wallNow:membership:)``).
    case presence(ConversationID)
}
