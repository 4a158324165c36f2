import ChatCore
import Foundation

/// Node-wide counters for `status`.
public struct NodeCounters: Sendable, Hashable, Codable {
    public var sessionsEstablished = 0
    public var sessionsClosed = 0
    public var dialFailures = 0
    public var revokedDisconnects = 0
    public var closeReasons: [String: Int] = [:]
    public var batchesPushed = 0
    public var ingestFailures = 0
    /// Incoming connections refused because their host misbehaved recently.
    public var refusedBanned = 0
    /// Incoming connections closed on arrival because ``NodeConfiguration/maxIncomingConnections`` were served.
    public var refusedFull = 0
    /// The most bytes one connection ever had read and not yet handled (at most
    /// ``NodeConfiguration/inboundWindowBytes`` plus one socket read), over closed sessions;
    /// `status` adds the open ones.
    public var inboundPeakBytes = 0
    /// Join admissions this node signed for joiners it admitted on a token.
    public var admissionsSigned = 0
    /// Admissions received that did not verify or did not fit the pending join.
    public var admissionsDropped = 0
    /// Public joins this node would not vouch for: its hourly limit was reached.
    public var admissionsRefused = 0
    /// Direct invitations sent to their invitees' nodes.
    public var invitationsDelivered = 0
    /// Invitations received whose token did not verify, or past the bound kept.
    public var invitationsDropped = 0

    public init(closeReasons: [String: Int] = [:]) {
        self.closeReasons = closeReasons
    }
}
