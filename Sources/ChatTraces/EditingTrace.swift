import Foundation
import NIOCore

/// A real-world text editing trace (josephg/editing-traces format), stored flat for fast replay.
///
/// Every transaction's parents, every patch and all inserted text live in four flat arrays;
/// ``TraceTransaction`` and ``TracePatch`` hold ranges into them. Sequential traces are stored in
/// the same shape as concurrent ones: one agent (0), and transaction `i` has the single parent `i - 1`.
/// Positions are Unicode scalar (codepoint) offsets, not UTF-8 byte offsets.
public struct EditingTrace: Sendable {
    /// Whether the trace has one linear history or a DAG of concurrent transactions.
    public enum Kind: String, Sendable {
        /// One author; every transaction applies to the result of the previous one.
        case sequential
        /// Several agents; every transaction applies to the merge of its parents.
        case concurrent
    }

    /// File name without `.json` / `.json.gz`.
    public var name: String
    /// Whether the trace is sequential or concurrent.
    public var kind: Kind
    /// The document before the first transaction (empty unless the file says otherwise).
    public var startContent: [Unicode.Scalar]
    /// The document after all transactions; a correct replay must reproduce it.
    public var endContent: [Unicode.Scalar]
    /// Number of agents: 1 for sequential traces; `numAgents` (or 1 + the largest agent) for concurrent ones.
    public var agentCount: Int
    /// All transactions, in file order (which respects causality).
    public var transactions: [TraceTransaction]
    /// All patches of all transactions, flat, in order.
    public var patches: [TracePatch]
    /// All inserted text, flat; each patch's ``TracePatch/insertRange`` points into it.
    public var insertedScalars: [Unicode.Scalar]
    /// All transactions' parent indices, flat; each transaction's ``TraceTransaction/parentRange`` points into it.
    public var parentStorage: [Int32]

    /// Number of patches in the whole trace.
    public var patchCount: Int { patches.count }

    /// Creates a trace from its parts; the ranges in `transactions` and `patches` must lie inside the storage arrays.
    public init(
        name: String, kind: Kind, startContent: [Unicode.Scalar], endContent: [Unicode.Scalar],
        agentCount: Int, transactions: [TraceTransaction], patches: [TracePatch],
        insertedScalars: [Unicode.Scalar], parentStorage: [Int32]
    ) {
        self.name = name
        self.kind = kind
        self.startContent = startContent
        self.endContent = endContent
        self.agentCount = agentCount
        self.transactions = transactions
        self.patches = patches
        self.insertedScalars = insertedScalars
        self.parentStorage = parentStorage
    }

    /// The parent transaction indices of a transaction of this trace.
    ///
    /// - Complexity: O(1).
    public func parents(of transaction: TraceTransaction) -> ArraySlice<Int32> {
        parentStorage[transaction.parentRange]
    }

    /// The patches of a transaction of this trace, in the order they apply.
    ///
    /// - Complexity: O(1).
    public func patches(of transaction: TraceTransaction) -> ArraySlice<TracePatch> {
        patches[transaction.patchRange]
    }

    /// The text a patch of this trace inserts.
    ///
    /// - Complexity: O(1).
    public func insertedText(of patch: TracePatch) -> ArraySlice<Unicode.Scalar> {
        insertedScalars[patch.insertRange]
    }

    /// Reads and parses a trace file (`.json` or `.json.gz`; gzip is detected by its magic bytes).
    ///
    /// - Complexity: O(n) in the decompressed size. Gzip data is decompressed in 64 KiB chunks as
    ///   the parser consumes them, so peak memory is the compressed file plus the parsed trace;
    ///   plain JSON is held whole while it is parsed.
    public static func load(path: String) throws(TraceError) -> EditingTrace {
        try parse(readFile(path), name: traceName(fromPath: path))
    }

    /// Parses a trace from gzip-compressed or plain JSON bytes (gzip is detected by the magic bytes 0x1f 0x8b).
    ///
    /// Keys may come in any order and unknown keys are skipped. `"kind": "concurrent"` makes a
    /// concurrent trace; anything else (or no kind) a sequential one. Positions, counts and agents
    /// must fit in `Int32`.
    ///
    /// - Complexity: O(n) in the decompressed size; no JSON tree is built, and gzip data is
    ///   decompressed chunk by chunk rather than whole.
    public static func parse(bytes: [UInt8], name: String) throws(TraceError) -> EditingTrace {
        try parse(Gzip.isGzip(bytes) ? .gzip(ByteBuffer(bytes: bytes)) : .json(bytes), name: name)
    }

    /// Trace input as read: compressed bytes to stream through zlib, or plain JSON.
    enum Input {
        case gzip(ByteBuffer)
        case json([UInt8])
    }

    private static func parse(_ input: consuming Input, name: String) throws(TraceError) -> EditingTrace {
        switch consume input {
        case .gzip(let compressed): try parseGzip(compressed, name: name)
        case .json(let bytes): try parseJSON(bytes, name: name)
        }
    }

    /// Reads a file into the shape the parser wants; the file's `Data` is released on return.
    private static func readFile(_ path: String) throws(TraceError) -> Input {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path)
        }
        guard !isDirectory.boolValue else { throw .unreadable(path, "it is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path, error.localizedDescription)
        }
        return data.starts(with: Gzip.magic) ? .gzip(ByteBuffer(bytes: data)) : .json([UInt8](data))
    }

    /// The file name without its directory and without `.json.gz`, `.json` or `.gz`.
    static func traceName(fromPath path: String) -> String {
        var name = Substring(path)
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        for suffix in [".json.gz", ".json", ".gz"] where name.hasSuffix(suffix) && name.count > suffix.count {
            return String(name.dropLast(suffix.count))
        }
        return String(name)
    }
}

/// One transaction of an ``EditingTrace``: an agent's patches applied on top of its parents.
///
/// Stored as five `Int32`s (20 bytes); the properties read and write `Int` and `Range<Int>`.
/// Every value must lie in `Int32.min ... Int32.max` (the parser rejects traces outside that range).
public struct TraceTransaction: Sendable, Hashable {
    private var storedAgent: Int32
    private var parentStart: Int32
    private var parentEnd: Int32
    private var patchStart: Int32
    private var patchEnd: Int32

    /// The agent (author) of the transaction, in `0..<agentCount`.
    public var agent: Int {
        get { Int(storedAgent) }
        set { storedAgent = Int32(newValue) }
    }

    /// Range of this transaction's parents in ``EditingTrace/parentStorage``.
    public var parentRange: Range<Int> {
        get { Range(uncheckedBounds: (Int(parentStart), Int(parentEnd))) }
        set { (parentStart, parentEnd) = (Int32(newValue.lowerBound), Int32(newValue.upperBound)) }
    }

    /// Range of this transaction's patches in ``EditingTrace/patches``.
    public var patchRange: Range<Int> {
        get { Range(uncheckedBounds: (Int(patchStart), Int(patchEnd))) }
        set { (patchStart, patchEnd) = (Int32(newValue.lowerBound), Int32(newValue.upperBound)) }
    }

    /// Creates a transaction from its agent and ranges into the trace's storage.
    ///
    /// - Precondition: Every value fits in `Int32`.
    public init(agent: Int, parentRange: Range<Int>, patchRange: Range<Int>) {
        storedAgent = Int32(agent)
        parentStart = Int32(parentRange.lowerBound)
        parentEnd = Int32(parentRange.upperBound)
        patchStart = Int32(patchRange.lowerBound)
        patchEnd = Int32(patchRange.upperBound)
    }
}

/// One splice: at `position`, delete `deleteCount` scalars, then insert the text at `insertRange`.
///
/// Stored as four `Int32`s (16 bytes); the properties read and write `Int` and `Range<Int>`.
/// Every value must lie in `Int32.min ... Int32.max` (the parser rejects traces outside that range).
public struct TracePatch: Sendable, Hashable {
    private var storedPosition: Int32
    private var storedDeleteCount: Int32
    private var insertStart: Int32
    private var insertEnd: Int32

    /// Unicode scalar offset at which the patch applies.
    public var position: Int {
        get { Int(storedPosition) }
        set { storedPosition = Int32(newValue) }
    }

    /// Number of scalars deleted at `position`.
    public var deleteCount: Int {
        get { Int(storedDeleteCount) }
        set { storedDeleteCount = Int32(newValue) }
    }

    /// Range of the inserted text in ``EditingTrace/insertedScalars``.
    public var insertRange: Range<Int> {
        get { Range(uncheckedBounds: (Int(insertStart), Int(insertEnd))) }
        set { (insertStart, insertEnd) = (Int32(newValue.lowerBound), Int32(newValue.upperBound)) }
    }

    /// Number of scalars inserted.
    public var insertCount: Int { Int(insertEnd) - Int(insertStart) }

    /// Creates a patch from its position, delete count and range of inserted text.
    ///
    /// - Precondition: Every value fits in `Int32`.
    public init(position: Int, deleteCount: Int, insertRange: Range<Int>) {
        storedPosition = Int32(position)
        storedDeleteCount = Int32(deleteCount)
        insertStart = Int32(insertRange.lowerBound)
        insertEnd = Int32(insertRange.upperBound)
    }
}
