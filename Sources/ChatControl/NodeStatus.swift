import ChatCore

/// What `status --json` prints.
public struct NodeStatus: Sendable, Hashable, Codable {
    public struct Peer: Sendable, Hashable, Codable {
        public var key: String
        public var address: String?
        public var dialed: Bool
        public var conversations: [String]
        public var batchesSent: Int
        public var batchesReceived: Int
        /// Clock frames received (session start, anti-entropy rounds, replies).
        public var clocksReceived: Int
        /// Bytes read from this peer and not yet handled (bounded by the inbound window).
        public var inboundBytes: Int = 0

        public init(key: String, address: String? = nil, dialed: Bool, conversations: [String], batchesSent: Int,
                    batchesReceived: Int, clocksReceived: Int, inboundBytes: Int = 0) {
            self.key = key
            self.address = address
            self.dialed = dialed
            self.conversations = conversations
            self.batchesSent = batchesSent
            self.batchesReceived = batchesReceived
            self.clocksReceived = clocksReceived
            self.inboundBytes = inboundBytes
        }
    }

    public struct Conversation: Sendable, Hashable, Codable {
        public var id: String
        public var title: String
        /// Operations held per author (key text → count).
        public var clock: [String: UInt32]
        /// Batches waiting for predecessors or dependencies.
        public var pendingBatches: Int
        /// Batches refused, by reason code.
        public var rejections: [String: Int]
        public var messages: Int
        public var members: Int
        public var joining: Bool
        /// Where this node's join stands while `joining`: `dialling`, `authenticated` (a member's
        /// node proved its key and took the token), `admitted` (its signed admission arrived),
        /// `catching_up`, `recorded` (signed and stored here; a member has not confirmed it yet).
        public var joinStage: String?
        /// Batches stored here.
        public var batches: Int = 0
        /// Members whose nodes forked their history (key text → fork point).
        public var equivocators: [String: UInt32] = [:]

        public init(id: String, title: String, clock: [String: UInt32], pendingBatches: Int,
                    rejections: [String: Int], messages: Int, members: Int, joining: Bool, joinStage: String? = nil,
                    batches: Int = 0, equivocators: [String: UInt32] = [:]) {
            self.id = id
            self.title = title
            self.clock = clock
            self.pendingBatches = pendingBatches
            self.rejections = rejections
            self.messages = messages
            self.members = members
            self.joining = joining
            self.joinStage = joinStage
            self.batches = batches
            self.equivocators = equivocators
        }
    }

    public var identity: String
    public var listening: String?
    public var dialing: [String]
    public var peers: [Peer]
    public var conversations: [Conversation]
    public var counters: NodeCounters

    public init(identity: String, listening: String? = nil, dialing: [String], peers: [Peer],
                conversations: [Conversation], counters: NodeCounters) {
        self.identity = identity
        self.listening = listening
        self.dialing = dialing
        self.peers = peers
        self.conversations = conversations
        self.counters = counters
    }
}
