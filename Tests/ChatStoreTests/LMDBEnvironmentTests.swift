import Foundation
import Testing
@testable import ChatStore

@Suite("LMDB wrapper")
struct LMDBEnvironmentTests {
    @Test("put, get, delete and count in a named database")
    func putGetDelete() throws {
        try withTemporaryDirectory { directory in
            let environment = try LMDBEnvironment(path: directory.path)
            let database = try environment.openDatabase(named: "test")
            try environment.write { txn throws(StoreError) in
                try txn.put(Array("world".utf8), for: Array("hello".utf8), in: database)
                try txn.put([], for: [0x01], in: database)  // an empty value is fine
                // A write transaction sees its own writes.
                #expect(try txn.get(Array("hello".utf8), in: database) == Array("world".utf8))
            }
            try environment.read { txn throws(StoreError) in
                #expect(try txn.get(Array("hello".utf8), in: database) == Array("world".utf8))
                #expect(try txn.get([0x01], in: database) == [])
                #expect(try txn.get(Array("absent".utf8), in: database) == nil)
                #expect(try txn.count(in: database) == 2)
            }
            let deleted = try environment.write { txn throws(StoreError) -> (Bool, Bool) in
                (try txn.delete(Array("hello".utf8), in: database), try txn.delete(Array("absent".utf8), in: database))
            }
            #expect(deleted == (true, false))
            #expect(try environment.read { txn throws(StoreError) in try txn.get(Array("hello".utf8), in: database) } == nil)
        }
    }

    @Test("a throwing write closure aborts: nothing it wrote is kept")
    func throwingWriteAborts() throws {
        try withTemporaryDirectory { directory in
            let environment = try LMDBEnvironment(path: directory.path)
            let database = try environment.openDatabase(named: "test")
            #expect(throws: StoreError.invalidArgument("stop")) {
                try environment.write { txn throws(StoreError) in
                    try txn.put([1], for: [1], in: database)
                    throw StoreError.invalidArgument("stop")
                }
            }
            #expect(try environment.read { txn throws(StoreError) in try txn.count(in: database) } == 0)
        }
    }

    @Test("keys LMDB cannot store are refused with a typed error, and overwrite: false reports keyExists")
    func keyErrors() throws {
        try withTemporaryDirectory { directory in
            let environment = try LMDBEnvironment(path: directory.path)
            let database = try environment.openDatabase(named: "test")
            #expect(throws: StoreError.badValueSize) {
                try environment.write { txn throws(StoreError) in try txn.put([1], for: [], in: database) }
            }
            #expect(throws: StoreError.badValueSize) {
                try environment.read { txn throws(StoreError) in
                    _ = try txn.get([UInt8](repeating: 1, count: environment.maximumKeySize + 1), in: database)
                }
            }
            try environment.write { txn throws(StoreError) in try txn.put([1], for: [7], in: database) }
            #expect(throws: StoreError.keyExists) {
                try environment.write { txn throws(StoreError) in try txn.put([2], for: [7], in: database, overwrite: false) }
            }
            #expect(StoreError.keyExists.code == "lmdb.keyExists")
            #expect(StoreError(lmdbCode: -30792) == .mapFull)
            #expect(StoreError(lmdbCode: 2) == .system(errno: 2))
        }
    }

    @Test("cursor: seek at-or-after (MDB_SET_RANGE), at-or-before, next (MDB_NEXT), previous (MDB_PREV)")
    func cursorRanges() throws {
        try withTemporaryDirectory { directory in
            let environment = try LMDBEnvironment(path: directory.path)
            let database = try environment.openDatabase(named: "test")
            try environment.write { txn throws(StoreError) in
                for key: UInt8 in [10, 20, 30, 40] { try txn.put([key, key], for: [1, key], in: database) }
                try txn.put([9], for: [2, 0], in: database)
            }
            try environment.read { txn throws(StoreError) in
                try txn.withCursor(on: database) { cursor throws(StoreError) in
                    #expect(try cursor.current() == nil)  // not positioned yet
                    #expect(try cursor.seek(atOrAfter: [1, 15]) == LMDBEntry(key: [1, 20], value: [20, 20]))
                    #expect(try cursor.next()?.key == [1, 30])
                    #expect(try cursor.previous()?.key == [1, 20])
                    #expect(try cursor.current()?.key == [1, 20])
                    #expect(try cursor.seek(atOrAfter: [1, 20])?.key == [1, 20])
                    #expect(try cursor.seek(atOrBefore: [1, 25])?.key == [1, 20])
                    #expect(try cursor.seek(atOrBefore: [1, 30])?.key == [1, 30])
                    #expect(try cursor.seek(atOrBefore: [1, 5]) == nil)
                    #expect(try cursor.seek(atOrBefore: [3]) == LMDBEntry(key: [2, 0], value: [9]))  // past the end
                    #expect(try cursor.seek(atOrAfter: [3]) == nil)
                    #expect(try cursor.first()?.key == [1, 10])
                    #expect(try cursor.last()?.key == [2, 0])
                    #expect(try cursor.next() == nil)
                }
                var keys: [[UInt8]] = []
                try txn.forEach(in: database, withPrefix: [1], from: [1, 11]) { entry in
                    keys.append(entry.key)
                    return true
                }
                #expect(keys == [[1, 20], [1, 30], [1, 40]])
                keys = []
                try txn.forEach(in: database, withPrefix: [1]) { entry in
                    keys.append(entry.key)
                    return keys.count < 2
                }
                #expect(keys == [[1, 10], [1, 20]])
            }
        }
    }

    @Test("a read-only environment refuses writes with StoreError.readOnly")
    func readOnlyEnvironment() throws {
        try withTemporaryDirectory { directory in
            do {
                let environment = try LMDBEnvironment(path: directory.path)
                let database = try environment.openDatabase(named: "test")
                try environment.write { txn throws(StoreError) in try txn.put([1], for: [1], in: database) }
            }
            let environment = try LMDBEnvironment(path: directory.path, options: .init(readOnly: true))
            let database = try environment.openDatabase(named: "test", create: true)  // create is ignored
            #expect(try environment.read { txn throws(StoreError) in try txn.get([1], in: database) } == [1])
            #expect(throws: StoreError.readOnly) {
                try environment.write { txn throws(StoreError) in try txn.put([2], for: [2], in: database) }
            }
            #expect(throws: StoreError.notFound) { try environment.openDatabase(named: "missing") }
        }
    }

    @Test("the map grows from 64 KiB when a write fills it, and the write is retried")
    func mapGrowth() throws {
        try withTemporaryDirectory { directory in
            let environment = try LMDBEnvironment(path: directory.path, options: .init(mapSize: 64 << 10))
            let database = try environment.openDatabase(named: "test")
            let initial = environment.mapSize
            var runs = 0
            try environment.write { txn throws(StoreError) in
                runs += 1
                for index in 0 ..< 64 {
                    try txn.put([UInt8](repeating: UInt8(index), count: 20_000), for: [UInt8(index)], in: database)
                }
            }
            #expect(runs > 1, "the body was rerun after MDB_MAP_FULL")
            #expect(environment.mapSize > initial)
            #expect(try environment.read { txn throws(StoreError) in try txn.count(in: database) } == 64)
            #expect(environment.dataFileSizeBytes > 64 * 20_000)
        }
    }

    @Test("growth stops at the maximum map size with a typed error")
    func mapLimit() throws {
        try withTemporaryDirectory { directory in
            let environment = try LMDBEnvironment(
                path: directory.path, options: .init(mapSize: 64 << 10, maximumMapSize: 256 << 10))
            let database = try environment.openDatabase(named: "test")
            #expect(throws: StoreError.mapSizeLimitReached(limit: 256 << 10)) {
                try environment.write { txn throws(StoreError) in
                    try txn.put([UInt8](repeating: 1, count: 1 << 20), for: [1], in: database)
                }
            }
            // Still usable afterwards.
            try environment.write { txn throws(StoreError) in try txn.put([1], for: [1], in: database) }
        }
    }

    @Test("one environment per directory per process: a second open is refused until the first closes")
    func singleOpenPerProcess() throws {
        try withTemporaryDirectory { directory in
            do {
                let first = try LMDBEnvironment(path: directory.path)
                #expect(throws: StoreError.alreadyOpen(path: directory.path + "/.")) {
                    try LMDBEnvironment(path: directory.path + "/.")  // same directory, other spelling
                }
                #expect(throws: StoreError.alreadyOpen(path: directory.path)) {
                    try ChatStore(directory: directory.path)
                }
                _ = first.mapSize
            }
            _ = try LMDBEnvironment(path: directory.path)
        }
    }

    @Test("data files are created with mode 0600")
    func fileModes() throws {
        try withTemporaryDirectory { directory in
            _ = try LMDBEnvironment(path: directory.path)
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/data.mdb")
            #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o600)
        }
    }
}
