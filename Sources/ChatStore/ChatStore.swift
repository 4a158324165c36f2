import ChatCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The op log of a node: per conversation, the signed batches of every author (stored verbatim),
/// each author's head, fork evidence, the latest snapshot and opaque metadata, in one LMDB
/// environment.
///
/// The store neither decodes nor verifies batches; it persists what it is given, atomically, and
/// refuses only what would break its own invariants (counter gaps, conflicting batches).
///
/// **Durability.** Every mutating call runs one LMDB write transaction and returns only after
/// `mdb_txn_commit` succeeded in LMDB's default synchronous mode (no `MDB_NOSYNC`): when `append`
/// returns, its stored batches survive a crash or power loss, so the caller may acknowledge or forward
/// them. When it throws, nothing of the call was written.
///
/// **Thread safety.** A `ChatStore` is `Sendable`; call it from any thread or task. LMDB serialises
/// writers (concurrent `append`s run one after the other); reads run concurrently with each other and
/// with a writer, each seeing a consistent snapshot. Every call is synchronous and may block on disk
/// I/O: keep it off NIO event loops. Open a directory once per process and share the instance: a
/// second `ChatStore` on an open directory throws `StoreError.alreadyOpen`.
public final class ChatStore: Sendable {
    /// The directory holding the store's files (`data.mdb`, `lock.mdb`).
    public let directory: String
    /// The options it was opened with.
    public let options: StoreOptions

    let environment: LMDBEnvironment
    let databases: Databases

    /// The store's named databases.
    struct Databases: Sendable {
        let meta: LMDBDatabase
        let conversations: LMDBDatabase
        let batches: LMDBDatabase
        let heads: LMDBDatabase
        let snapshots: LMDBDatabase
        let forks: LMDBDatabase
        let metadata: LMDBDatabase
        /// Peer sessions for the audit trail (format 1.1); nil only in a store written by format 1.0
        /// and opened read-only, which has none.
        let sessions: LMDBDatabase?
        /// Where member nodes listen, per conversation (format 1.2); nil like `sessions`.
        let addresses: LMDBDatabase?

        var all: [LMDBDatabase] {
            [meta, conversations, batches, heads, snapshots, forks, metadata] + [sessions, addresses].compactMap { $0 }
        }
    }

    /// Opens the store in `directory`, creating the directory (mode 0700) and an empty store if
    /// missing, unless `options.readOnly`.
    ///
    /// - Throws: `StoreError.unsupportedFormatVersion` for a store written by another major format
    ///   version, `StoreError.notAStore` for an LMDB environment that is not a ChatStore (or, read-only,
    ///   a directory without a store), `StoreError.directoryUnavailable` when the directory cannot be
    ///   created, `StoreError.alreadyOpen` when this process has it open already, or the LMDB error.
    public init(directory: String, options: StoreOptions = StoreOptions()) throws(StoreError) {
        if options.readOnly {
            var info = stat()
            guard stat(directory, &info) == 0 else {
                throw StoreError.directoryUnavailable(path: directory, errno: errno)
            }
            guard stat(directory + "/data.mdb", &info) == 0 else { throw StoreError.notAStore }
        } else {
            try Self.createDirectory(directory)
        }
        let environment = try LMDBEnvironment(
            path: directory,
            options: LMDBEnvironment.Options(
                mapSize: options.mapSize, maximumMapSize: options.maximumMapSize, maxDatabases: 16,
                maxReaders: options.maxReaders, readOnly: options.readOnly, fileMode: 0o600))
        self.directory = directory
        self.options = options
        self.environment = environment
        self.databases = try Self.openSchema(environment, readOnly: options.readOnly)
    }

    /// The size in bytes of the store's data file.
    public var directorySizeBytes: Int { environment.dataFileSizeBytes }

    /// The format version this build writes (`major.minor`); stores with another major version are
    /// refused.
    public static var formatVersion: (major: UInt16, minor: UInt16) {
        (StoreSchema.formatMajor, StoreSchema.formatMinor)
    }

    // MARK: Opening

    /// Opens (creating when writable) the named databases and checks or writes the format record.
    private static func openSchema(_ environment: LMDBEnvironment, readOnly: Bool) throws(StoreError) -> Databases {
        // Refuse a foreign LMDB environment before creating anything in it: its main database lists
        // its named databases, and a ChatStore always has `meta`.
        let main = try environment.openDatabase(named: nil, create: false)
        let isForeign = try environment.read { txn throws(StoreError) -> Bool in
            let hasDatabases = try txn.count(in: main) > 0
            let hasMeta = try txn.get(Array(StoreSchema.metaName.utf8), in: main) != nil
            return hasDatabases && !hasMeta
        }
        if isForeign { throw StoreError.notAStore }

        func open(_ name: String) throws(StoreError) -> LMDBDatabase {
            do throws(StoreError) {
                return try environment.openDatabase(named: name, create: !readOnly)
            } catch {
                throw error == .notFound ? .notAStore : error
            }
        }
        /// A database added by a minor version: absent from an older store opened read-only.
        func openOptional(_ name: String) throws(StoreError) -> LMDBDatabase? {
            do throws(StoreError) {
                return try environment.openDatabase(named: name, create: !readOnly)
            } catch {
                if readOnly, error == .notFound { return nil }
                throw error
            }
        }
        let databases = try Databases(
            meta: open(StoreSchema.metaName),
            conversations: open(StoreSchema.conversationsName),
            batches: open(StoreSchema.batchesName),
            heads: open(StoreSchema.headsName),
            snapshots: open(StoreSchema.snapshotsName),
            forks: open(StoreSchema.forksName),
            metadata: open(StoreSchema.metadataName),
            sessions: openOptional(StoreSchema.sessionsName),
            addresses: openOptional(StoreSchema.addressesName))

        let format = try environment.read { txn throws(StoreError) -> [UInt8]? in
            try txn.get(StoreSchema.formatKey, in: databases.meta)
        }
        if let format {
            guard let version = StoreSchema.decodeFormat(format) else {
                throw StoreError.corruptRecord(database: StoreSchema.metaName, reason: "format record too short")
            }
            guard version.major == StoreSchema.formatMajor else {
                throw StoreError.unsupportedFormatVersion(found: version.major, supported: StoreSchema.formatMajor)
            }
            if !readOnly, version.minor < StoreSchema.formatMinor {
                // An older minor version: its optional databases were created above; record that.
                try environment.write { txn throws(StoreError) in
                    try txn.put(
                        StoreSchema.encodeFormat(major: StoreSchema.formatMajor, minor: StoreSchema.formatMinor),
                        for: StoreSchema.formatKey, in: databases.meta)
                }
            }
            return databases
        }
        if readOnly { throw StoreError.notAStore }
        // No format record: a new store (possibly one whose creation was interrupted after creating
        // some databases). Write the record only if every database is still empty.
        try environment.write { txn throws(StoreError) in
            guard try txn.get(StoreSchema.formatKey, in: databases.meta) == nil else { return }
            for database in databases.all where try txn.count(in: database) > 0 {
                throw StoreError.notAStore
            }
            try txn.put(
                StoreSchema.encodeFormat(major: StoreSchema.formatMajor, minor: StoreSchema.formatMinor),
                for: StoreSchema.formatKey, in: databases.meta)
        }
        return databases
    }

    /// Creates `path` and any missing parents with mode 0700; an existing directory is left as is.
    private static func createDirectory(_ path: String) throws(StoreError) {
        guard !path.isEmpty else { throw StoreError.directoryUnavailable(path: path, errno: ENOENT) }
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw StoreError.directoryUnavailable(path: path, errno: ENOTDIR)
            }
            return
        }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o700) != 0 {
                let failure = errno
                guard failure == EEXIST, stat(prefix, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                    throw StoreError.directoryUnavailable(path: prefix, errno: failure)
                }
            }
            prefix += "/"
        }
    }
}
