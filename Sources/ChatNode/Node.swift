import ChatControl
import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire
import Foundation
import NIOCore

/// A StreamingChat node: the conversations it holds (each a ``ConversationReplica`` over the
/// shared ``ChatStore``), its sessions with peers (each a ``PeerConnection`` running a
/// ``SessionStateMachine``, with one ``ReplicationStateMachine`` per shared conversation), and an
/// event stream for user interfaces.
///
/// The node is the only place where the pure machines meet I/O: it carries their actions out —
/// frames to connections, catch-up loads and ingests to replicas, timers to its clock — and fans
/// newly stored batches out to every other session of the conversation.
public actor Node {
    public let configuration: NodeConfiguration
    public nonisolated let identity: SigningKey
    public nonisolated var replicaID: ReplicaID { identity.publicKey.replicaID }
    let store: ChatStore
    /// Who may connect, as of the latest commits.
    public nonisolated let directory = MembershipDirectory()
    /// What happens, as it happens. One consumer.
    public nonisolated let events: AsyncStream<NodeEvent>
    /// Bumped with every event: control clients wait on it (long polls).
    public nonisolated let changes = ChangeSignal()
    let eventSink: NodeEventSink
    /// Stores peer-session records for the audit trail, off this actor.
    let sessionRecorder: SessionRecorder
    /// Saves joins in progress and where members listen.
    let notes: ConversationNotes

    var replicas: [ConversationID: ConversationReplica] = [:]
    /// The node's policy and its state: sessions, addresses, dials, joins, counters.
    var machine: NodeMachine
    /// The I/O side of each session, by link id.
    var channels: [Int: SessionChannel] = [:]
    /// The redial loop of each address the machine dials.
    var dialers = PeerDialers()
    /// The listening socket, once ``start()`` bound it.
    var listener: PeerListener?
    /// Incoming connections being served (the machine bounds them).
    var servingIncoming = 0
    /// Where this node listens, once ``start()`` bound the socket.
    public var listeningOn: PeerEndpoint? { listener?.endpoint }
    /// The timers the machine armed.
    var timers = NodeTimers<NodeTimer>()
    var isStopped: Bool { machine.isStopped }

    /// Opens the store at the configured directory and every conversation in it.
    public init(configuration: NodeConfiguration) throws(NodeError) {
        self.configuration = configuration
        identity = configuration.identity
        do {
            store = try ChatStore(directory: configuration.dataDirectory)
        } catch {
            throw .store(error)
        }
        let (events, continuation) = AsyncStream<NodeEvent>.makeStream(bufferingPolicy: .bufferingNewest(16_384))
        self.events = events
        eventSink = NodeEventSink(continuation: continuation, changes: changes)
        sessionRecorder = SessionRecorder(store: store, events: eventSink)
        notes = ConversationNotes(store: store, events: eventSink)
        machine = NodeMachine(node: configuration)
        let conversations: [ConversationID]
        do { conversations = try store.conversations() } catch { throw .store(error) }
        for conversation in conversations {
            let replica = try ConversationReplica(store: store, conversation: conversation,
                                                  localReplica: configuration.identity.publicKey.replicaID)
            replicas[conversation] = replica
            machine.pendingJoins[conversation] = notes.pendingJoin(of: conversation)
        }
    }

    /// The system's wall clock in ms since the Unix epoch.
    public static let systemWallClock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }

    var now: Duration { configuration.clock.elapsedTime }

    /// Starts listening (when configured) and dialing the configured peers.
    public func start() async throws {
        for replica in replicas.values { await prepare(replica) }
        for conversation in machine.pendingJoins.keys { await completeJoinIfReady(conversation) }
        if let listen = configuration.listen { try await startListening(on: listen) }
        await carryOut(machine.onStart(remembered: notes.rememberedAddresses(in: replicas.keys), membership: directory))
    }

    /// Closes every session (telling peers it is going away), stops listening and redialing, and
    /// returns when all of the node's tasks have ended. The store closes when the node is released.
    public func stop() async {
        guard !isStopped else { return }
        let closing = machine.onStop()
        listener?.close()
        let dialing = dialers.all
        await carryOut(closing) // every session told `going_away`, every redial loop cancelled
        timers.cancelAll()
        await listener?.finished() // and every incoming session
        for task in dialing { await task.value }
        for replica in replicas.values { await replica.setEventSink(nil) }
        await sessionRecorder.close()
        eventSink.finish()
        changes.bump() // long polls answer now rather than at their timeout
    }

    /// Wires a replica to the node: membership for admission, events, and this node's authorship.
    func prepare(_ replica: ConversationReplica) async {
        await replica.publishMembership(to: directory)
        await replica.setEventSink(eventSink)
        await replica.attachAuthor(identity)
    }

    /// The conversations this node holds.
    public var conversations: [ConversationID] { replicas.keys.sorted() }

    /// The replica of a conversation this node holds.
    public func replica(_ conversation: ConversationID) throws(NodeCommandError) -> ConversationReplica {
        guard let replica = replicas[conversation] else { throw .unknownConversation(conversation.hex) }
        return replica
    }
}
