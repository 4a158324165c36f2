private import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a store or LMDB operation failed: every LMDB return code and every store-level refusal.
///
/// `code` is stable (log it, match on it); `description` is one human sentence.
public enum StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    // MARK: Store level

    /// The store directory could not be created or used (`errno` from the system call).
    case directoryUnavailable(path: String, errno: Int32)
    /// The environment holds LMDB data but not a ChatStore schema (no format record).
    case notAStore
    /// The store was written by an incompatible format version.
    case unsupportedFormatVersion(found: UInt16, supported: UInt16)
    /// A write was attempted on a store or environment opened read-only.
    case readOnly
    /// A record the store wrote earlier no longer decodes.
    case corruptRecord(database: String, reason: String)
    /// An argument is outside what the store accepts (reason).
    case invalidArgument(String)
    /// A snapshot claims operations that are not in the log.
    case snapshotAheadOfLog
    /// The map would have to grow beyond `StoreOptions.maximumMapSize`.
    case mapSizeLimitReached(limit: Int)
    /// The directory's environment is already open in this process (LMDB allows one per process).
    case alreadyOpen(path: String)

    // MARK: LMDB return codes

    /// `MDB_KEYEXIST`: the key/value pair already exists.
    case keyExists
    /// `MDB_NOTFOUND`: no such key (or named database).
    case notFound
    /// `MDB_PAGE_NOTFOUND`: a page was not found, which usually means corruption.
    case pageNotFound
    /// `MDB_CORRUPTED`: a page had the wrong type.
    case corrupted
    /// `MDB_PANIC`: the environment had a fatal error.
    case panic
    /// `MDB_VERSION_MISMATCH`: the environment was written by another LMDB version.
    case versionMismatch
    /// `MDB_INVALID`: the file is not an LMDB file.
    case invalidFile
    /// `MDB_MAP_FULL`: the memory map is full (the environment grows it and retries on its own).
    case mapFull
    /// `MDB_DBS_FULL`: too many named databases.
    case databasesFull
    /// `MDB_READERS_FULL`: every reader slot is taken.
    case readersFull
    /// `MDB_TLS_FULL`: too many thread-local keys.
    case tlsFull
    /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
    case transactionFull
    /// `MDB_CURSOR_FULL`: the cursor stack is too deep.
    case cursorFull
    /// `MDB_PAGE_FULL`: a page ran out of space.
    case pageFull
    /// `MDB_MAP_RESIZED`: another process grew the map (the environment adopts it and retries).
    case mapResized
    /// `MDB_INCOMPATIBLE`: the operation does not fit the database's flags.
    case incompatible
    /// `MDB_BAD_RSLOT`: a reader lock table slot was reused wrongly.
    case badReaderSlot
    /// `MDB_BAD_TXN`: the transaction is invalid or must be aborted.
    case badTransaction
    /// `MDB_BAD_VALSIZE`: a key or value has an unsupported size.
    case badValueSize
    /// `MDB_BAD_DBI`: a database handle changed unexpectedly.
    case badDatabaseHandle
    /// A system `errno` returned by LMDB (for example `EACCES`, `ENOENT`, `ENOSPC`).
    case system(errno: Int32)

    /// Maps an LMDB return code to an error; nil for `MDB_SUCCESS`.
    init?(lmdbCode code: Int32) {
        switch code {
        case MDB_SUCCESS: return nil
        case MDB_KEYEXIST: self = .keyExists
        case MDB_NOTFOUND: self = .notFound
        case MDB_PAGE_NOTFOUND: self = .pageNotFound
        case MDB_CORRUPTED: self = .corrupted
        case MDB_PANIC: self = .panic
        case MDB_VERSION_MISMATCH: self = .versionMismatch
        case MDB_INVALID: self = .invalidFile
        case MDB_MAP_FULL: self = .mapFull
        case MDB_DBS_FULL: self = .databasesFull
        case MDB_READERS_FULL: self = .readersFull
        case MDB_TLS_FULL: self = .tlsFull
        case MDB_TXN_FULL: self = .transactionFull
        case MDB_CURSOR_FULL: self = .cursorFull
        case MDB_PAGE_FULL: self = .pageFull
        case MDB_MAP_RESIZED: self = .mapResized
        case MDB_INCOMPATIBLE: self = .incompatible
        case MDB_BAD_RSLOT: self = .badReaderSlot
        case MDB_BAD_TXN: self = .badTransaction
        case MDB_BAD_VALSIZE: self = .badValueSize
        case MDB_BAD_DBI: self = .badDatabaseHandle
        default: self = .system(errno: code)
        }
    }

    /// Throws the error for an LMDB return code; returns for `MDB_SUCCESS`.
    @inline(__always)
    static func check(_ code: Int32) throws(StoreError) {
        if code != 0 { throw StoreError(lmdbCode: code) ?? .system(errno: code) }
    }

    /// A stable, machine-readable code for this kind of error.
    public var code: String {
        switch self {
        case .directoryUnavailable: "store.directoryUnavailable"
        case .notAStore: "store.notAStore"
        case .unsupportedFormatVersion: "store.unsupportedFormatVersion"
        case .readOnly: "store.readOnly"
        case .corruptRecord: "store.corruptRecord"
        case .invalidArgument: "store.invalidArgument"
        case .snapshotAheadOfLog: "store.snapshotAheadOfLog"
        case .mapSizeLimitReached: "store.mapSizeLimitReached"
        case .alreadyOpen: "store.alreadyOpen"
        case .keyExists: "lmdb.keyExists"
        case .notFound: "lmdb.notFound"
        case .pageNotFound: "lmdb.pageNotFound"
        case .corrupted: "lmdb.corrupted"
        case .panic: "lmdb.panic"
        case .versionMismatch: "lmdb.versionMismatch"
        case .invalidFile: "lmdb.invalidFile"
        case .mapFull: "lmdb.mapFull"
        case .databasesFull: "lmdb.databasesFull"
        case .readersFull: "lmdb.readersFull"
        case .tlsFull: "lmdb.tlsFull"
        case .transactionFull: "lmdb.transactionFull"
        case .cursorFull: "lmdb.cursorFull"
        case .pageFull: "lmdb.pageFull"
        case .mapResized: "lmdb.mapResized"
        case .incompatible: "lmdb.incompatible"
        case .badReaderSlot: "lmdb.badReaderSlot"
        case .badTransaction: "lmdb.badTransaction"
        case .badValueSize: "lmdb.badValueSize"
        case .badDatabaseHandle: "lmdb.badDatabaseHandle"
        case .system: "lmdb.system"
        }
    }

    /// One human sentence explaining the error.
    public var description: String {
        switch self {
        case .directoryUnavailable(let path, let errno):
            "The store directory \(path) could not be created or used: \(systemMessage(errno))."
        case .notAStore:
            "The directory holds an LMDB environment that is not a ChatStore (no format record)."
        case .unsupportedFormatVersion(let found, let supported):
            "The store has format version \(found), but this build reads only version \(supported)."
        case .readOnly:
            "The store was opened read-only, so it cannot be written."
        case .corruptRecord(let database, let reason):
            "A record in the \(database) database does not decode: \(reason)."
        case .invalidArgument(let reason):
            "The store refused an argument: \(reason)."
        case .snapshotAheadOfLog:
            "The snapshot covers operations that are not in the stored log."
        case .mapSizeLimitReached(let limit):
            "The database needs more than the configured maximum map size of \(limit) bytes."
        case .alreadyOpen(let path):
            "The store at \(path) is already open in this process; share that instance instead."
        case .keyExists: "The key/value pair already exists (MDB_KEYEXIST)."
        case .notFound: "No such key or named database exists (MDB_NOTFOUND)."
        case .pageNotFound: "A database page was not found, which usually means corruption (MDB_PAGE_NOTFOUND)."
        case .corrupted: "A database page has the wrong type, so the file is corrupted (MDB_CORRUPTED)."
        case .panic: "The environment had a fatal error and must be reopened (MDB_PANIC)."
        case .versionMismatch: "The environment was written by an incompatible LMDB version (MDB_VERSION_MISMATCH)."
        case .invalidFile: "The file is not a valid LMDB file (MDB_INVALID)."
        case .mapFull: "The memory map is full (MDB_MAP_FULL)."
        case .databasesFull: "The environment has no room for another named database (MDB_DBS_FULL)."
        case .readersFull: "Every reader slot of the environment is in use (MDB_READERS_FULL)."
        case .tlsFull: "Too many thread-local storage keys are in use (MDB_TLS_FULL)."
        case .transactionFull: "The transaction has too many dirty pages (MDB_TXN_FULL)."
        case .cursorFull: "The cursor stack is too deep, an LMDB internal error (MDB_CURSOR_FULL)."
        case .pageFull: "A page ran out of space, an LMDB internal error (MDB_PAGE_FULL)."
        case .mapResized: "Another process grew the map beyond this process's mapping (MDB_MAP_RESIZED)."
        case .incompatible: "The operation is incompatible with the database's flags (MDB_INCOMPATIBLE)."
        case .badReaderSlot: "A reader lock table slot was reused incorrectly (MDB_BAD_RSLOT)."
        case .badTransaction: "The transaction is invalid or must be aborted (MDB_BAD_TXN)."
        case .badValueSize: "A key or value has an unsupported size (MDB_BAD_VALSIZE)."
        case .badDatabaseHandle: "A database handle changed unexpectedly (MDB_BAD_DBI)."
        case .system(let errno): "LMDB reported a system error: \(systemMessage(errno))."
        }
    }
}

/// The C library's message for `errno`, with the number.
func systemMessage(_ errno: Int32) -> String {
    guard let message = strerror(errno) else { return "errno \(errno)" }
    return "\(String(cString: message)) (errno \(errno))"
}
