import ChatCore

extension Conversation {
    /// Refuses, before anything is signed, operations this conversation would exclude if this
    /// node wrote them at `stamp`: a post over the rate limit says when the next is allowed.
    func checkLocal(_ ops: [ConversationOp], at stamp: UInt64) throws(NodeCommandError) {
        for op in ops {
            guard let reason = exclusion(ofLocal: op, timestamp: stamp) else { continue }
            if reason == .rateLimited, case .postMessage = op, let next = nextPostAllowed(at: stamp) {
                throw .rateLimited(retryInMilliseconds: next > stamp ? next - stamp : 0,
                                   perMinute: document.settings.messagesPerMinute)
            }
            throw .excluded(reason)
        }
    }
}
