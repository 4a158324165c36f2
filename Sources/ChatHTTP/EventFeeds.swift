import ChatNode

/// One event feed per conversation, shared by every WebSocket client of it: a single follower
/// long-polls the node's `chat-state`, turns each change into the plan's events (``ChatEvents``)
/// once, keeps the latest ``historyLimit`` of them, and hands them to every subscriber. A client
/// that reconnects with the revision it last saw gets exactly the events it missed, as long as
/// they are still in the history (a feed outlives its last subscriber by ``linger``, so a
/// dropped connection can resume); otherwise it is told `sync_required` with the whole state.
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
    }

    /// Events kept per conversation for resuming.
    static let historyLimit = 1_000
    /// Events a subscriber may lag behind before its stream ends.
    static let subscriberBuffer = 4_096
    /// How long a feed keeps following after its last subscriber left.
    static let linger: Duration = .seconds(60)

    private struct Feed {
        var state: ChatState
        /// The revision the history starts from: events after it are all kept.
        var baseRevision: UInt64
        var history: [(revision: UInt64, event: JSONValue)] = []
        var subscribers: [Int: AsyncStream<JSONValue>.Continuation] = [:]
        var follower: Task<Void, Never>?
        var lastLeft: ContinuousClock.Instant?
    }

    private let handle: ChatHTTPServer.Handler
    private var feeds: [String: Feed] = [:]
    private var nextID = 0

    init(handle: @escaping ChatHTTPServer.Handler) { self.handle = handle }

    /// Subscribes to `conversation`'s events, resuming after `revision` when one is given.
    /// - Complexity: O(history) to find the events to replay.
    func subscribe(_ conversation: String, resumingAfter revision: UInt64?) async -> Subscription {
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
                feeds[conversation] = Feed(state: state, baseRevision: state.revision)
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
        if let revision {
            if revision >= feed.baseRevision, revision <= feed.state.revision {
                start = .replay(feed.history.filter { $0.revision > revision }.map(\.event))
            } else {
                start = .syncRequired(feed.state)
            }
        } else {
            start = .fresh(feed.state)
        }
        return Subscription(id: id, start: start, events: events)
    }

    /// Ends a subscription; the feed keeps following for ``linger`` in case the client returns.
    func unsubscribe(_ conversation: String, id: Int) {
        feeds[conversation]?.subscribers.removeValue(forKey: id)?.finish()
        if feeds[conversation]?.subscribers.isEmpty == true { feeds[conversation]?.lastLeft = .now }
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
                        revision: nil, in: conversation)
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            let events = feeds[conversation].map { ChatEvents.between($0.state, state) } ?? []
            feeds[conversation]?.state = state
            for event in events { publish(event, revision: state.revision, in: conversation) }
        }
    }

    /// Hands an event to every subscriber and keeps it for resuming (errors are not kept).
    /// A subscriber too far behind is ended.
    private func publish(_ event: JSONValue, revision: UInt64?, in conversation: String) {
        guard var feed = feeds[conversation] else { return }
        if let revision {
            feed.history.append((revision, event))
            if feed.history.count > Self.historyLimit {
                let dropped = feed.history.count - Self.historyLimit
                // Resuming needs every event after the client's revision: the base moves past
                // the last revision dropped.
                feed.baseRevision = feed.history[dropped - 1].revision
                feed.history.removeFirst(dropped)
            }
        }
        for (id, subscriber) in feed.subscribers {
            if case .dropped = subscriber.yield(event) {
                subscriber.finish()
                feed.subscribers[id] = nil
            }
        }
        feeds[conversation] = feed
    }
}
