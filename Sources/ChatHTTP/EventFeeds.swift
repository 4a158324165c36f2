import ChatControl
import ChatNode

/// One event feed per conversation, shared by every WebSocket client of it: a single follower
/// long-polls the node's `chat-state`, turns each change into the plan's events (``ChatEvents``)
/// once, numbers them (`seq`, one per event, with this server's `epoch`), keeps the latest
/// ``historyLimit``, and hands them to every subscriber. A client that reconnects with the
/// epoch and the `seq` it last saw gets exactly the events it missed, as long as they are still
/// in the history (a feed outlives its last subscriber by ``linger``, so a dropped connection
/// can resume); otherwise — another epoch (the node restarted), or events gone — it is told
/// `sync_required` with the whole state.
actor EventFeeds {
    /// How a subscription starts.
    enum Start: Sendable {
        /// A new stream: the whole state first.
        case fresh(ChatState)
        /// A resumed stream: the events after the client's revision, in order.
        case replay([JSONValue])
        /// The client's revision cannot be resumed from: the whole state, and `sync_required`.
        case syncRequired(ChatState)
        /// The node refused (an unknown conversation, …): the code and message.
        case failed(code: String, message: String)
    }

    /// A subscriber's live events. The stream ends when the subscriber falls more than
    /// ``subscriberBuffer`` events behind (the client is then told `sync_required`).
    struct Subscription: Sendable {
        let id: Int
        let start: Start
        let events: AsyncStream<JSONValue>
        /// The seq of the newest event before this subscription's live events: a client that
        /// took the opening state resumes from it.
        var seq: UInt64 = 0
    }

    /// Events kept per conversation for resuming.
    static let historyLimit = 1_000
    /// Events a subscriber may lag behind before its stream ends.
    static let subscriberBuffer = 4_096
    /// How long a feed keeps following after its last subscriber left.
    static let linger: Duration = .seconds(60)

    /// Where a client resumes: the epoch and the last event it saw (epoch 0: `seq` is a chat-state
    /// revision, from a client that numbers nothing).
    struct Resume: Sendable {
        var epoch: UInt64
        var seq: UInt64
    }

    private struct Feed {
        var state: ChatState
        /// The last `seq` given out, and the one the history starts after: every event after
        /// `baseSeq` is kept.
        var lastSeq: UInt64 = 0
        var baseSeq: UInt64 = 0
        var history: [(seq: UInt64, event: JSONValue)] = []
        var subscribers: [Int: AsyncStream<JSONValue>.Continuation] = [:]
        var follower: Task<Void, Never>?
        var lastLeft: ContinuousClock.Instant?
    }

    private let handle: ChatHTTPServer.Handler
    private var feeds: [String: Feed] = [:]
    private var nextID = 0
    /// This server's epoch: a `seq` means nothing to another run of the node.
    nonisolated let epoch = UInt64.random(in: 1 ... UInt64(1) << 53)

    init(handle: @escaping ChatHTTPServer.Handler) { self.handle = handle }

    /// Subscribes to `conversation`'s events, resuming after `resume` when one is given.
    /// - Complexity: O(history) to find the events to replay.
    func subscribe(_ conversation: String, resumingAfter resume: Resume?) async -> Subscription {
        nextID += 1
        let id = nextID
        let (events, continuation) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingOldest(Self.subscriberBuffer))
        if feeds[conversation] == nil {
            let first = await handle(ControlRequest(command: "chat-state", arguments: ["conversation": conversation]))
            guard first.ok, let state = try? first.result?.decoded(as: ChatState.self) else {
                continuation.finish()
                return Subscription(id: id, start: .failed(code: first.error?.code ?? "internal_error",
                                                           message: first.error?.message ?? "no chat state"), events: events)
            }
            // Another subscriber may have started the feed while this one waited.
            if feeds[conversation] == nil {
                feeds[conversation] = Feed(state: state)
                feeds[conversation]?.follower = Task { await self.follow(conversation) }
            }
        }
        guard var feed = feeds[conversation] else {
            continuation.finish()
            return Subscription(id: id, start: .failed(code: "internal_error", message: "no feed"), events: events)
        }
        feed.subscribers[id] = continuation
        feed.lastLeft = nil
        feeds[conversation] = feed
        let start: Start
        if let resume, resume.epoch == 0 {
            // Only a revision was given (no seq): resumable when nothing changed since.
            start = resume.seq == feed.state.revision ? .replay([]) : .syncRequired(feed.state)
        } else if let resume {
            if resume.epoch == epoch, resume.seq >= feed.baseSeq, resume.seq <= feed.lastSeq {
                start = .replay(feed.history.filter { $0.seq > resume.seq }.map(\.event))
            } else {
                start = .syncRequired(feed.state)
            }
        } else {
            start = .fresh(feed.state)
        }
        return Subscription(id: id, start: start, events: events, seq: feed.lastSeq)
    }

    /// Ends a subscription; the feed keeps following for ``linger`` in case the client returns.
    func unsubscribe(_ conversation: String, id: Int) {
        feeds[conversation]?.subscribers.removeValue(forKey: id)?.finish()
        if feeds[conversation]?.subscribers.isEmpty == true, feeds[conversation]?.lastLeft == nil {
            feeds[conversation]?.lastLeft = .now
        }
    }

    /// Stops every follower and ends every subscription (the server stopped).
    func shutdown() {
        for feed in feeds.values {
            feed.follower?.cancel()
            for subscriber in feed.subscribers.values { subscriber.finish() }
        }
        feeds = [:]
    }

    /// Follows one conversation until it has had no subscriber for ``linger``.
    private func follow(_ conversation: String) async {
        while !Task.isCancelled, let feed = feeds[conversation] {
            if let left = feed.lastLeft, left.duration(to: .now) > Self.linger {
                feeds[conversation] = nil
                return
            }
            let next = await handle(ControlRequest(command: "chat-state", arguments: [
                "conversation": conversation, "after": String(feed.state.revision), "wait": "10000"]))
            guard next.ok, let state = try? next.result?.decoded(as: ChatState.self) else {
                let code = next.error?.code ?? "internal_error"
                publish(["type": "error", "code": .string(code), "message": .string(next.error?.message ?? "no chat state")],
                        kept: false, in: conversation)
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            let events = feeds[conversation].map { ChatEvents.between($0.state, state) } ?? []
            feeds[conversation]?.state = state
            for event in events { publish(event, kept: true, in: conversation) }
        }
    }

    /// Numbers an event, hands it to every subscriber and keeps it for resuming (errors are
    /// neither numbered nor kept). A subscriber too far behind is ended.
    private func publish(_ event: JSONValue, kept: Bool, in conversation: String) {
        guard var feed = feeds[conversation] else { return }
        var event = event
        if kept, case .object(var fields) = event {
            feed.lastSeq += 1
            fields["seq"] = .int(Int(clamping: feed.lastSeq))
            fields["epoch"] = .int(Int(clamping: epoch))
            event = .object(fields)
            feed.history.append((feed.lastSeq, event))
            if feed.history.count > Self.historyLimit {
                let dropped = feed.history.count - Self.historyLimit
                // Resuming needs every event after the client's seq: the base moves past the
                // last one dropped.
                feed.baseSeq = feed.history[dropped - 1].seq
                feed.history.removeFirst(dropped)
            }
        }
        for (id, subscriber) in feed.subscribers {
            if case .dropped = subscriber.yield(event) {
                subscriber.finish()
                feed.subscribers[id] = nil
            }
        }
        if feed.subscribers.isEmpty, feed.lastLeft == nil { feed.lastLeft = .now }
        feeds[conversation] = feed
    }
}
