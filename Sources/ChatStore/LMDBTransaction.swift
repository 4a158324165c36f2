private import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A named database inside an `LMDBEnvironment`, opened once with `openDatabase(named:create:)`.
///
/// The handle stays valid for the environment's lifetime and may be used from any thread.
public struct LMDBDatabase: Sendable, Hashable, CustomStringConvertible {
    /// The database's name in the environment.
    public let name: String
    /// The `MDB_dbi` handle.
    let handle: UInt32

    init(name: String, handle: UInt32) {
        self.name = name
        self.handle = handle
    }

    public var description: String { name }
}

/// One key/value pair, copied out of the memory map before the transaction ended.
public struct LMDBEntry: Sendable, Hashable {
    /// The key bytes.
    public var key: [UInt8]
    /// The value bytes.
    public var value: [UInt8]

    /// Creates an entry.
    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// A read-only LMDB transaction, valid only inside the `LMDBEnvironment.read` closure it was passed
/// to. It cannot be copied, so it cannot escape; everything it returns is copied out of the map.
public struct ReadTransaction: ~Copyable {
    private let operations: TransactionOperations

    init(handle: OpaquePointer, maxKeySize: Int) {
        operations = TransactionOperations(txn: handle, maxKeySize: maxKeySize)
    }

    /// The value stored under `key`, or nil.
    /// - Complexity: O(log n) in the database's entries, plus the value's length to copy it.
    public func get(_ key: [UInt8], in database: LMDBDatabase) throws(StoreError) -> [UInt8]? {
        try operations.get(key, in: database)
    }

    /// Runs `body` with a cursor over `database`; the cursor is closed when `body` returns.
    public func withCursor<T>(
        on database: LMDBDatabase, _ body: (borrowing LMDBCursor) throws(StoreError) -> T
    ) throws(StoreError) -> T {
        try operations.withCursor(on: database, body)
    }

    /// Calls `body` for each entry whose key starts with `prefix`, in key order, from the first key
    /// at or after `start` (default: `prefix`); `body` returns false to stop.
    /// - Complexity: O(log n + k) for k entries visited.
    public func forEach(
        in database: LMDBDatabase, withPrefix prefix: [UInt8], from start: [UInt8]? = nil,
        _ body: (LMDBEntry) throws(StoreError) -> Bool
    ) throws(StoreError) {
        try operations.forEach(in: database, withPrefix: prefix, from: start, body)
    }

    /// The number of entries in `database`.
    /// - Complexity: O(1).
    public func count(in database: LMDBDatabase) throws(StoreError) -> Int {
        try operations.count(in: database)
    }
}

/// A read-write LMDB transaction, valid only inside the `LMDBEnvironment.write` closure it was passed
/// to. It commits when the closure returns and aborts when it throws.
public struct WriteTransaction: ~Copyable {
    private let operations: TransactionOperations
    /// Set when LMDB reported `MDB_MAP_FULL`: the environment then grows the map and reruns the body,
    /// even if the body swallowed the error.
    var sawMapFull = false

    init(handle: OpaquePointer, maxKeySize: Int) {
        operations = TransactionOperations(txn: handle, maxKeySize: maxKeySize)
    }

    /// The value stored under `key`, or nil; sees this transaction's own writes.
    /// - Complexity: O(log n) in the database's entries, plus the value's length to copy it.
    public func get(_ key: [UInt8], in database: LMDBDatabase) throws(StoreError) -> [UInt8]? {
        try operations.get(key, in: database)
    }

    /// Runs `body` with a cursor over `database`; the cursor is closed when `body` returns.
    public func withCursor<T>(
        on database: LMDBDatabase, _ body: (borrowing LMDBCursor) throws(StoreError) -> T
    ) throws(StoreError) -> T {
        try operations.withCursor(on: database, body)
    }

    /// Calls `body` for each entry whose key starts with `prefix`, in key order, from the first key
    /// at or after `start` (default: `prefix`); `body` returns false to stop.
    /// - Complexity: O(log n + k) for k entries visited.
    public func forEach(
        in database: LMDBDatabase, withPrefix prefix: [UInt8], from start: [UInt8]? = nil,
        _ body: (LMDBEntry) throws(StoreError) -> Bool
    ) throws(StoreError) {
        try operations.forEach(in: database, withPrefix: prefix, from: start, body)
    }

    /// The number of entries in `database`.
    /// - Complexity: O(1).
    public func count(in database: LMDBDatabase) throws(StoreError) -> Int {
        try operations.count(in: database)
    }

    /// Stores `value` under `key`, replacing any previous value (or, with `overwrite: false`,
    /// throwing `StoreError.keyExists`).
    /// - Complexity: O(log n) plus the value's length.
    public mutating func put(
        _ value: [UInt8], for key: [UInt8], in database: LMDBDatabase, overwrite: Bool = true
    ) throws(StoreError) {
        do throws(StoreError) {
            try operations.put(value, for: key, in: database, overwrite: overwrite)
        } catch {
            if error == .mapFull { sawMapFull = true }
            throw error
        }
    }

    /// Deletes `key`; returns false when it was absent.
    /// - Complexity: O(log n).
    @discardableResult
    public mutating func delete(_ key: [UInt8], in database: LMDBDatabase) throws(StoreError) -> Bool {
        do throws(StoreError) {
            return try operations.delete(key, in: database)
        } catch {
            if error == .mapFull { sawMapFull = true }
            throw error
        }
    }
}

/// A cursor over one database, valid only inside `withCursor`. Every position it returns is a copy.
///
/// Positioning methods return the entry at the new position, or nil when there is none (the cursor's
/// position is then unspecified; reposition it with `seek`, `first` or `last`).
public struct LMDBCursor: ~Copyable {
    private let cursor: OpaquePointer
    private let maxKeySize: Int

    init(cursor: OpaquePointer, maxKeySize: Int) {
        self.cursor = cursor
        self.maxKeySize = maxKeySize
    }

    /// Moves to the first key greater than or equal to `key` (`MDB_SET_RANGE`).
    /// - Complexity: O(log n).
    public func seek(atOrAfter key: [UInt8]) throws(StoreError) -> LMDBEntry? {
        try checkKey(key, maxKeySize: maxKeySize)
        var found: LMDBEntry?
        let result = withValue(key) { keyValue in
            var dataValue = MDB_val()
            let result = mdb_cursor_get(cursor, &keyValue, &dataValue, MDB_SET_RANGE)
            if result == MDB_SUCCESS { found = LMDBEntry(key: copied(keyValue), value: copied(dataValue)) }
            return result
        }
        return try entry(found, result)
    }

    /// Moves to the last key less than or equal to `key` (`MDB_SET_RANGE`, then `MDB_PREV` or
    /// `MDB_LAST`).
    /// - Complexity: O(log n).
    public func seek(atOrBefore key: [UInt8]) throws(StoreError) -> LMDBEntry? {
        guard let after = try seek(atOrAfter: key) else { return try last() }
        if after.key == key { return after }
        return try previous()
    }

    /// Moves to the first entry (`MDB_FIRST`).
    public func first() throws(StoreError) -> LMDBEntry? { try move(MDB_FIRST) }

    /// Moves to the last entry (`MDB_LAST`).
    public func last() throws(StoreError) -> LMDBEntry? { try move(MDB_LAST) }

    /// Moves to the next entry (`MDB_NEXT`).
    public func next() throws(StoreError) -> LMDBEntry? { try move(MDB_NEXT) }

    /// Moves to the previous entry (`MDB_PREV`).
    public func previous() throws(StoreError) -> LMDBEntry? { try move(MDB_PREV) }

    /// The entry at the current position (`MDB_GET_CURRENT`).
    public func current() throws(StoreError) -> LMDBEntry? {
        var keyValue = MDB_val()
        var dataValue = MDB_val()
        let result = mdb_cursor_get(cursor, &keyValue, &dataValue, MDB_GET_CURRENT)
        // An unpositioned cursor answers EINVAL: there is no current entry.
        if result == EINVAL { return nil }
        let found = result == MDB_SUCCESS
            ? LMDBEntry(key: copied(keyValue), value: copied(dataValue)) : nil
        return try entry(found, result)
    }

    private func move(_ operation: MDB_cursor_op) throws(StoreError) -> LMDBEntry? {
        var keyValue = MDB_val()
        var dataValue = MDB_val()
        let result = mdb_cursor_get(cursor, &keyValue, &dataValue, operation)
        let found = result == MDB_SUCCESS
            ? LMDBEntry(key: copied(keyValue), value: copied(dataValue)) : nil
        return try entry(found, result)
    }

    private func entry(_ found: LMDBEntry?, _ result: Int32) throws(StoreError) -> LMDBEntry? {
        if result == MDB_NOTFOUND { return nil }
        try StoreError.check(result)
        return found
    }
}

/// The read and write operations shared by both transaction kinds.
private struct TransactionOperations {
    let txn: OpaquePointer
    let maxKeySize: Int

    func get(_ key: [UInt8], in database: LMDBDatabase) throws(StoreError) -> [UInt8]? {
        try checkKey(key, maxKeySize: maxKeySize)
        var found: [UInt8]?
        let result = withValue(key) { keyValue in
            var dataValue = MDB_val()
            let result = mdb_get(txn, database.handle, &keyValue, &dataValue)
            if result == MDB_SUCCESS { found = copied(dataValue) }
            return result
        }
        if result == MDB_NOTFOUND { return nil }
        try StoreError.check(result)
        return found
    }

    func put(_ value: [UInt8], for key: [UInt8], in database: LMDBDatabase, overwrite: Bool) throws(StoreError) {
        try checkKey(key, maxKeySize: maxKeySize)
        let flags = overwrite ? 0 : UInt32(MDB_NOOVERWRITE)
        let result = withValue(key) { keyValue in
            withValue(value) { dataValue in
                mdb_put(txn, database.handle, &keyValue, &dataValue, flags)
            }
        }
        try StoreError.check(result)
    }

    func delete(_ key: [UInt8], in database: LMDBDatabase) throws(StoreError) -> Bool {
        try checkKey(key, maxKeySize: maxKeySize)
        let result = withValue(key) { keyValue in
            mdb_del(txn, database.handle, &keyValue, nil)
        }
        if result == MDB_NOTFOUND { return false }
        try StoreError.check(result)
        return true
    }

    func count(in database: LMDBDatabase) throws(StoreError) -> Int {
        var stat = MDB_stat()
        try StoreError.check(mdb_stat(txn, database.handle, &stat))
        return stat.ms_entries
    }

    func withCursor<T>(
        on database: LMDBDatabase, _ body: (borrowing LMDBCursor) throws(StoreError) -> T
    ) throws(StoreError) -> T {
        var handle: OpaquePointer?
        try StoreError.check(mdb_cursor_open(txn, database.handle, &handle))
        guard let handle else { throw StoreError.badTransaction }
        defer { mdb_cursor_close(handle) }
        let cursor = LMDBCursor(cursor: handle, maxKeySize: maxKeySize)
        return try body(cursor)
    }

    func forEach(
        in database: LMDBDatabase, withPrefix prefix: [UInt8], from start: [UInt8]?,
        _ body: (LMDBEntry) throws(StoreError) -> Bool
    ) throws(StoreError) {
        try withCursor(on: database) { cursor throws(StoreError) in
            var entry: LMDBEntry?
            let origin = start ?? prefix
            entry = origin.isEmpty ? try cursor.first() : try cursor.seek(atOrAfter: origin)
            while let current = entry, current.key.starts(with: prefix) {
                guard try body(current) else { return }
                entry = try cursor.next()
            }
        }
    }
}

/// Rejects keys LMDB cannot store (empty, or longer than `mdb_env_get_maxkeysize`).
private func checkKey(_ key: [UInt8], maxKeySize: Int) throws(StoreError) {
    guard !key.isEmpty, key.count <= maxKeySize else { throw StoreError.badValueSize }
}

/// Runs `body` with an `MDB_val` pointing at `bytes` (a valid pointer even when `bytes` is empty).
private func withValue<R>(_ bytes: [UInt8], _ body: (inout MDB_val) -> R) -> R {
    bytes.withUnsafeBytes { raw in
        if let base = raw.baseAddress {
            var value = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: base))
            return body(&value)
        }
        var placeholder: UInt8 = 0
        return withUnsafeMutableBytes(of: &placeholder) { empty in
            var value = MDB_val(mv_size: 0, mv_data: empty.baseAddress)
            return body(&value)
        }
    }
}

/// Copies the bytes an `MDB_val` points at (inside the map) into a Swift array.
private func copied(_ value: MDB_val) -> [UInt8] {
    guard value.mv_size > 0, let data = value.mv_data else { return [] }
    return Array(UnsafeRawBufferPointer(start: data, count: value.mv_size))
}
