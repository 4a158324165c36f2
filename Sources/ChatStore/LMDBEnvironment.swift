private import CLMDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open LMDB environment: one directory holding `data.mdb` and `lock.mdb`.
///
/// Transactions live inside synchronous closures: `write` commits when its closure returns and aborts
/// when it throws; `read` always ends its transaction when the closure returns. Transactions, cursors
/// and raw pointers never leave those closures, and every byte handed out is a copy.
///
/// Thread safety: any thread may call `read` and `write` at any time. LMDB serialises writers (one
/// write transaction at a time, others wait); readers never block and run concurrently with each
/// other and with the writer. When a write fills the memory map (`MDB_MAP_FULL`), the environment
/// waits until no transaction of this process is active, doubles the map with `mdb_env_set_mapsize`,
/// and reruns the write closure, so a write closure must have no effects outside its transaction.
/// Do not start a transaction inside another one's closure (nor read `mapSize` there): nested
/// transactions on one thread can deadlock.
///
/// Opened with `MDB_NOTLS` (reader slots belong to transactions, not threads), so transactions may be
/// used from Swift concurrency contexts; keep them off NIO event loops, they block on disk I/O.
///
/// LMDB forbids opening one environment twice in a process (closing either copy would drop the
/// other's file locks): a second `LMDBEnvironment` on an open directory throws
/// `StoreError.alreadyOpen`. Share one instance instead.
public final class LMDBEnvironment: @unchecked Sendable {
    // SAFETY: `environment` is an MDB_env* opened with MDB_NOTLS; LMDB allows its use from any thread
    // as long as each transaction is used by one thread at a time, which the closure-scoped,
    // noncopyable transactions guarantee. `currentMapSize` and the map itself change only under
    // `mapLock` held exclusively; every transaction runs under `mapLock` held shared, so no
    // transaction is active while `mdb_env_set_mapsize` remaps the file. The handle is closed once,
    // in deinit, when no closure can be running.

    /// How to open an environment.
    public struct Options: Sendable, Hashable {
        /// The initial size of the memory map in bytes; the map grows (doubling) when it fills.
        public var mapSize: Int
        /// The map never grows beyond this many bytes; a write that needs more throws
        /// `StoreError.mapSizeLimitReached`.
        public var maximumMapSize: Int
        /// The maximum number of named databases.
        public var maxDatabases: Int
        /// The maximum number of concurrent read transactions (reader slots).
        public var maxReaders: Int
        /// Open with `MDB_RDONLY`: reads only, for inspection tools; writes throw `StoreError.readOnly`.
        public var readOnly: Bool
        /// The permission bits of the data and lock files it creates.
        public var fileMode: Int

        /// Creates options; by default a 1 GiB map that may grow to 1 TiB, 16 named databases,
        /// 126 readers, read-write, files readable by the owner only (0600).
        public init(
            mapSize: Int = 1 << 30, maximumMapSize: Int = 1 << 40, maxDatabases: Int = 16,
            maxReaders: Int = 126, readOnly: Bool = false, fileMode: Int = 0o600
        ) {
            self.mapSize = mapSize
            self.maximumMapSize = maximumMapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.readOnly = readOnly
            self.fileMode = fileMode
        }
    }

    /// The directory of the environment.
    public let path: String
    /// The options it was opened with.
    public let options: Options

    private let environment: OpaquePointer
    private let identity: DirectoryIdentity?
    private let mapLock = LMDBReadWriteLock()
    private let maxKeySize: Int
    /// The current map size; written only under `mapLock` exclusively.
    private var currentMapSize: Int

    /// Opens (creating files if needed and not read-only) the environment in the existing directory
    /// `path`.
    public init(path: String, options: Options = Options()) throws(StoreError) {
        guard options.mapSize > 0, options.maximumMapSize >= options.mapSize else {
            throw StoreError.invalidArgument("map size must be positive and at most the maximum map size")
        }
        guard let maxDatabases = UInt32(exactly: options.maxDatabases),
              let maxReaders = UInt32(exactly: options.maxReaders), maxReaders > 0,
              let fileMode = mode_t(exactly: options.fileMode)
        else {
            throw StoreError.invalidArgument("database count, reader count or file mode out of range")
        }
        // A missing directory has no identity; mdb_env_open then reports the error.
        let identity = DirectoryIdentity(path: path)
        if let identity {
            let inserted = openDirectories.withLock { $0.insert(identity).inserted }
            guard inserted else { throw StoreError.alreadyOpen(path: path) }
        }
        var handle: OpaquePointer?
        let created = mdb_env_create(&handle)
        guard created == MDB_SUCCESS, let handle else {
            if let identity { _ = openDirectories.withLock { $0.remove(identity) } }
            throw StoreError(lmdbCode: created) ?? .system(errno: ENOMEM)
        }
        do throws(StoreError) {
            try StoreError.check(mdb_env_set_mapsize(handle, options.mapSize))
            try StoreError.check(mdb_env_set_maxdbs(handle, maxDatabases))
            try StoreError.check(mdb_env_set_maxreaders(handle, maxReaders))
            var flags = UInt32(MDB_NOTLS)
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            try StoreError.check(mdb_env_open(handle, path, flags, fileMode))
        } catch {
            mdb_env_close(handle)
            if let identity { _ = openDirectories.withLock { $0.remove(identity) } }
            throw error
        }
        self.environment = handle
        self.identity = identity
        self.path = path
        self.options = options
        self.maxKeySize = Int(mdb_env_get_maxkeysize(handle))
        self.currentMapSize = Self.mapSize(of: handle)
    }

    deinit {
        mdb_env_close(environment)
        if let identity { _ = openDirectories.withLock { $0.remove(identity) } }
    }

    /// The current size of the memory map in bytes.
    public var mapSize: Int {
        mapLock.withShared { currentMapSize }
    }

    /// The size in bytes of the data file (`data.mdb`) on disk.
    public var dataFileSizeBytes: Int {
        var info = stat()
        guard stat(path + "/data.mdb", &info) == 0 else { return 0 }
        return Int(info.st_size)
    }

    /// The largest key LMDB accepts, in bytes.
    public var maximumKeySize: Int { maxKeySize }

    /// Opens the named database `name` (nil: the main, unnamed database, whose keys are the names of
    /// the named ones), creating it when `create` is true (in a read-only environment `create` is
    /// ignored and a missing database throws `StoreError.notFound`).
    ///
    /// Call this while setting up, before handing the environment to other threads' transactions:
    /// it waits until no transaction is active.
    public func openDatabase(named name: String?, create: Bool = true) throws(StoreError) -> LMDBDatabase {
        try mapLock.withExclusive { () throws(StoreError) -> LMDBDatabase in
            while true {
                var txn: OpaquePointer?
                let begin = mdb_txn_begin(
                    environment, nil, options.readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
                if begin == MDB_MAP_RESIZED {
                    try adoptResizedMapLocked()
                    continue
                }
                try StoreError.check(begin)
                guard let txn else { throw StoreError.badTransaction }
                var handle = MDB_dbi()
                let flags = create && !options.readOnly ? UInt32(MDB_CREATE) : 0
                let opened = mdb_dbi_open(txn, name, flags, &handle)
                guard opened == MDB_SUCCESS else {
                    mdb_txn_abort(txn)
                    if opened == MDB_MAP_FULL {
                        try growLocked(from: currentMapSize)
                        continue
                    }
                    throw StoreError(lmdbCode: opened) ?? .system(errno: opened)
                }
                let committed = mdb_txn_commit(txn)
                if committed == MDB_MAP_FULL {
                    try growLocked(from: currentMapSize)
                    continue
                }
                try StoreError.check(committed)
                return LMDBDatabase(name: name ?? "", handle: handle)
            }
        }
    }

    /// Runs `body` in a read-only transaction, which sees one consistent snapshot of the database.
    ///
    /// Copy out what you need: the transaction ends when `body` returns.
    public func read<T>(_ body: (borrowing ReadTransaction) throws(StoreError) -> T) throws(StoreError) -> T {
        while true {
            let attempt = try mapLock.withShared { () throws(StoreError) -> Attempt<T> in
                var handle: OpaquePointer?
                let begin = mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &handle)
                if begin == MDB_MAP_RESIZED { return .mapResized }
                try StoreError.check(begin)
                guard let handle else { throw StoreError.badTransaction }
                defer { mdb_txn_abort(handle) }
                let transaction = ReadTransaction(handle: handle, maxKeySize: maxKeySize)
                return .done(try body(transaction))
            }
            switch attempt {
            case .done(let value): return value
            case .mapResized: try mapLock.withExclusive { () throws(StoreError) in try adoptResizedMapLocked() }
            case .mapFull: throw StoreError.mapFull  // not produced by read transactions
            }
        }
    }

    /// Runs `body` in a write transaction: commits when it returns (the call returns only after
    /// `mdb_txn_commit` succeeded, with LMDB's default synchronous flush), aborts when it throws.
    ///
    /// When the map fills, the transaction is aborted, the map grown and `body` run again from the
    /// start, so `body` must have no effects outside the transaction.
    /// - Throws: `StoreError.readOnly` in a read-only environment, or whatever `body` or LMDB threw.
    public func write<T>(_ body: (inout WriteTransaction) throws(StoreError) -> T) throws(StoreError) -> T {
        guard !options.readOnly else { throw StoreError.readOnly }
        while true {
            let attempt = try mapLock.withShared { () throws(StoreError) -> Attempt<T> in
                let observedMapSize = currentMapSize
                var handle: OpaquePointer?
                let begin = mdb_txn_begin(environment, nil, 0, &handle)
                if begin == MDB_MAP_RESIZED { return .mapResized }
                try StoreError.check(begin)
                guard let handle else { throw StoreError.badTransaction }
                var transaction = WriteTransaction(handle: handle, maxKeySize: maxKeySize)
                let value: T
                do throws(StoreError) {
                    value = try body(&transaction)
                } catch {
                    mdb_txn_abort(handle)
                    if transaction.sawMapFull || error == .mapFull { return .mapFull(observedMapSize) }
                    throw error
                }
                // mdb_txn_commit frees the transaction whether or not it succeeds.
                let committed = mdb_txn_commit(handle)
                if committed == MDB_MAP_FULL { return .mapFull(observedMapSize) }
                try StoreError.check(committed)
                return .done(value)
            }
            switch attempt {
            case .done(let value):
                return value
            case .mapFull(let observed):
                try mapLock.withExclusive { () throws(StoreError) in try growLocked(from: observed) }
            case .mapResized:
                try mapLock.withExclusive { () throws(StoreError) in try adoptResizedMapLocked() }
            }
        }
    }

    /// What one transaction attempt came to.
    private enum Attempt<T> {
        case done(T)
        /// The map was full at the given size: grow and retry.
        case mapFull(Int)
        /// Another process grew the map: adopt its size and retry.
        case mapResized
    }

    /// Doubles the map (capped at `maximumMapSize`) unless another writer already grew it past
    /// `observed`. Call only with `mapLock` held exclusively.
    private func growLocked(from observed: Int) throws(StoreError) {
        guard currentMapSize <= observed else { return }
        guard observed < options.maximumMapSize else {
            throw StoreError.mapSizeLimitReached(limit: options.maximumMapSize)
        }
        let (doubled, overflow) = observed.multipliedReportingOverflow(by: 2)
        let target = overflow ? options.maximumMapSize : min(doubled, options.maximumMapSize)
        try StoreError.check(mdb_env_set_mapsize(environment, target))
        currentMapSize = Self.mapSize(of: environment)
    }

    /// Adopts the map size another process set. Call only with `mapLock` held exclusively.
    private func adoptResizedMapLocked() throws(StoreError) {
        try StoreError.check(mdb_env_set_mapsize(environment, 0))
        currentMapSize = Self.mapSize(of: environment)
    }

    private static func mapSize(of environment: OpaquePointer) -> Int {
        var info = MDB_envinfo()
        guard mdb_env_info(environment, &info) == MDB_SUCCESS else { return 0 }
        return info.me_mapsize
    }
}

/// A directory's device and inode: the same directory under any path.
private struct DirectoryIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(truncatingIfNeeded: info.st_dev)
        inode = UInt64(truncatingIfNeeded: info.st_ino)
    }
}

/// The directories of the environments open in this process.
private let openDirectories = Mutex<Set<DirectoryIdentity>>([])
