import ChatCore
import ChatFuzzing
import ChatCrypto
import ChatSync
import ChatWire
import Foundation
import Testing

/// Replays every fuzzer input kept in the repository — the seed corpus in Fixtures/fuzz/corpus and
/// the crash inputs in Fixtures/fuzz/finds — through the decoders, as swift-nio-ssh's
/// FuzzResultTests keeps its fuzzer finds. Each input must only not trap: a typed error is the
/// expected outcome for a malformed one.
///
/// The dispatch is the harness's own (`ChatFuzzing.fuzzOne`): the first byte, modulo 16, chooses
/// the decoder; unused slots are ignored.
@Suite struct FuzzFindsTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz")

    /// One stored input, named by its folder and file.
    struct Input: CustomTestStringConvertible, Sendable {
        let folder: String
        let name: String
        let url: URL
        var testDescription: String { "\(folder)/\(name)" }
    }

    /// Every input file in `corpus/` and `finds/`; README.md and other non-input files are skipped.
    static func inputs() -> [Input] {
        ["corpus", "finds"].flatMap { folder -> [Input] in
            let directory = fixtures.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.sorted()
                .filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }
                .map { Input(folder: folder, name: $0, url: directory.appendingPathComponent($0)) }
        }
    }

    @Test(arguments: inputs())
    func storedInputDoesNotTrap(_ input: Input) throws {
        let bytes = [UInt8](try Data(contentsOf: input.url))
        fuzzOne(bytes)
    }

    @Test func seedCorpusReachesEveryDecoder() {
        let selectors = Set(Self.inputs().filter { $0.folder == "corpus" }.compactMap { input in
            (try? Data(contentsOf: input.url))?.first.flatMap { FuzzTarget(selector: $0) }
        })
        #expect(selectors == Set(FuzzTarget.allCases))
    }

    /// The seeds of slots 7–10 are valid inputs (a seed the decoder refuses only tests its first check).
    @Test func newSlotSeedsDecode() throws {
        func seed(_ name: String) throws -> [UInt8] {
            Array([UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("corpus/\(name)"))).dropFirst())
        }
        let conversation = try Conversation(snapshot: try seed("conversation-messages"), id: FuzzFixtures.conversation,
                                            localReplica: FuzzFixtures.localReplica, verifyInvite: { _ in nil })
        #expect(conversation.document.orderedMessages.count >= 3)
        #expect(!conversation.excluded.isEmpty)
        _ = try Conversation(snapshot: try seed("conversation-empty"), id: FuzzFixtures.conversation,
                             localReplica: FuzzFixtures.localReplica, verifyInvite: { _ in nil })
        for name in ["ephemeral-presence", "ephemeral-typing", "ephemeral-cursor"] {
            let ephemeral = try SignedEphemeral(decoding: try seed(name))
            let signature = try #require(Signature(bytes: ephemeral.signature))
            #expect(FuzzFixtures.alice.publicKey.isValidSignature(signature, for: ephemeral.signedBytes))
        }
        for name in ["session-hello", "session-hello-reply", "session-stream-header", "session-identify", "session-request",
                     "session-ping", "session-welcome", "session-refuse", "listener-hello", "listener-hello-versions"] {
            _ = try SessionFrame(decoding: try seed(name))
        }
        // A recorded dialer's whole session: the slot-10 listener authenticates it and gets its data.
        var listener = FuzzFixtures.startedListener()
        let actions = listener.receive(try seed("listener-session"), now: .milliseconds(1))
        #expect(listener.peer != nil)
        #expect(actions.contains { if case .deliver = $0 { true } else { false } })
    }

    @Test func findsFolderIsExplained() {
        #expect(FileManager.default.fileExists(atPath: Self.fixtures.appendingPathComponent("finds/README.md").path))
    }

    // MARK: Finds, pinned with their cause

    /// A sequence state ("SQ", version 1, flags) with one replica, then `rest`.
    static func sequenceState(keepsHistory: Bool, _ rest: [UInt8]) -> [UInt8] {
        [0x53, 0x51, 0x01, keepsHistory ? 0x01 : 0x00, 0x01] + ReplicaID(testValue: 1).bytes + rest
    }

    /// finds/crash-155448f9…: a span with counter UInt32.max made the length check
    /// `length <= UInt32.max - 1 - counter` overflow and trap instead of throwing.
    @Test func sequenceSpanAtLastCounterThrows() {
        // One span: replica 0, counter 0xFFFF_FFFF (varint), length 1, flags 0, element "a".
        let bytes = Self.sequenceState(keepsHistory: true, [0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x00, 0x61, 0x00])
        #expect(throws: SequenceError.malformedState("bad span length")) {
            try SequenceCRDT<Unicode.Scalar>(decoding: bytes)
        }
    }

    /// The same overflow in the history entries (same check; found by reading the decoder).
    @Test func sequenceHistoryAtLastCounterThrows() {
        // No spans; one history entry: replica 0, counter 0xFFFF_FFFF, length 1, insert.
        let bytes = Self.sequenceState(keepsHistory: true, [0x00, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x00])
        #expect(throws: SequenceError.malformedState("bad history entry")) {
            try SequenceCRDT<Unicode.Scalar>(decoding: bytes)
        }
    }

    /// finds/crash-d7155469…: the same overflow in the applied ranges of a state saved without
    /// history, reached through a conversation snapshot.
    @Test func sequenceAppliedRangeAtLastCounterThrows() {
        // No spans; the one replica has one applied range: start 0xFFFF_FFFF, length 1.
        let bytes = Self.sequenceState(keepsHistory: false, [0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01])
        #expect(throws: SequenceError.malformedState("bad applied range")) {
            try SequenceCRDT<Unicode.Scalar>(decoding: bytes)
        }
    }

    /// finds/crash-a4f58ce5…: the length of a version 4 state's deferred sections was bounded
    /// by the bytes left before the length itself was read, so a length counting its own byte
    /// reached past the input when the text-first load kept those bytes.
    @Test func deferredSectionsLongerThanTheInputAreRefused() {
        // Version 4, history kept, one replica; no visible elements (count 0, raw content), then
        // a deferred length of 1 with no byte after it.
        let bytes = [0x53, 0x51, 0x04, 0x01, 0x01] + ReplicaID(testValue: 1).bytes + [0x00, 0x00, 0x01]
        #expect(throws: SequenceError.self) { try SequenceCRDT<Unicode.Scalar>(decodingTextFirst: bytes) }
        #expect(throws: SequenceError.self) { try SequenceCRDT<Unicode.Scalar>(decoding: bytes) }
    }

    /// finds/oom-fc7f3f73…: the decoder reserved room for the sum of the span lengths a peer
    /// claims (gigabytes from a few bytes) before reading any element.
    @Test func sequenceClaimedLengthDoesNotReserveMemory() {
        // One span: replica 0, counter 0, length 0xFFFF_FFFE, flags 0, and no elements at all.
        let bytes = Self.sequenceState(keepsHistory: true, [0x01, 0x00, 0x00, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 0x00])
        #expect(throws: SequenceError.self) {
            try SequenceCRDT<Unicode.Scalar>(decoding: bytes)
        }
    }
}
