import Foundation

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
    /// - Complexity: O(n) in the decompressed size. Peak memory is about twice the JSON size
    ///   plus the parsed trace; the JSON bytes are released before returning.
    public static func load(path: String) throws(TraceError) -> EditingTrace {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path)
        }
        guard !isDirectory.boolValue else { throw .unreadable(path, "it is a directory") }
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .unreadable(path, error.localizedDescription)
        }
        return try parse(bytes: bytes, name: traceName(fromPath: path))
    }

    /// Parses a trace from gzip-compressed or plain JSON bytes (gzip is detected by the magic bytes 0x1f 0x8b).
    ///
    /// Keys may come in any order and unknown keys are skipped. `"kind": "concurrent"` makes a
    /// concurrent trace; anything else (or no kind) a sequential one.
    ///
    /// - Complexity: O(n) in the decompressed size; no JSON tree is built.
    public static func parse(bytes: [UInt8], name: String) throws(TraceError) -> EditingTrace {
        if Gzip.isGzip(bytes) {
            return try parseJSON(Gzip.decompress(bytes), name: name)
        }
        return try parseJSON(bytes, name: name)
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
public struct TraceTransaction: Sendable, Hashable {
    /// The agent (author) of the transaction, in `0..<agentCount`.
    public var agent: Int
    /// Range of this transaction's parents in ``EditingTrace/parentStorage``.
    public var parentRange: Range<Int>
    /// Range of this transaction's patches in ``EditingTrace/patches``.
    public var patchRange: Range<Int>

    /// Creates a transaction from its agent and ranges into the trace's storage.
    public init(agent: Int, parentRange: Range<Int>, patchRange: Range<Int>) {
        self.agent = agent
        self.parentRange = parentRange
        self.patchRange = patchRange
    }
}

/// One splice: at `position`, delete `deleteCount` scalars, then insert the text at `insertRange`.
public struct TracePatch: Sendable, Hashable {
    /// Unicode scalar offset at which the patch applies.
    public var position: Int
    /// Number of scalars deleted at `position`.
    public var deleteCount: Int
    /// Range of the inserted text in ``EditingTrace/insertedScalars``.
    public var insertRange: Range<Int>

    /// Number of scalars inserted.
    public var insertCount: Int { insertRange.count }

    /// Creates a patch from its position, delete count and range of inserted text.
    public init(position: Int, deleteCount: Int, insertRange: Range<Int>) {
        self.position = position
        self.deleteCount = deleteCount
        self.insertRange = insertRange
    }
}
