import CLMDB
import CSodium
import Foundation
import Testing

/// Smoke tests proving that the system libraries (libsodium, LMDB) are found, linked and callable.
@Suite("System libraries")
struct SystemLibrarySmokeTests {
    /// BLAKE2b-256 of the bytes of "abc", as computed by Python's `hashlib.blake2b(b"abc", digest_size=32)`.
    static let blake2b256OfABC = "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"

    @Test("libsodium: BLAKE2b-256 of \"abc\" matches the known digest")
    func sodiumGenericHash() {
        #expect(sodium_init() >= 0)

        let input = Array("abc".utf8)
        let digestLength = crypto_generichash_bytes()
        #expect(digestLength == 32)
        #expect(digestLength >= crypto_generichash_bytes_min())
        #expect(digestLength <= crypto_generichash_bytes_max())
        var digest = [UInt8](repeating: 0, count: digestLength)

        // Check buffer sizes before the unsafe call: an empty array has a nil base address.
        guard !input.isEmpty, digest.count == digestLength else {
            Issue.record("unexpected buffer sizes: input \(input.count), digest \(digest.count)")
            return
        }
        let result = digest.withUnsafeMutableBufferPointer { out -> Int32 in
            input.withUnsafeBufferPointer { bytes -> Int32 in
                guard let outBase = out.baseAddress, let inBase = bytes.baseAddress else { return -1 }
                return crypto_generichash(
                    outBase, out.count, inBase, UInt64(bytes.count), nil, 0)
            }
        }
        #expect(result == 0)
        #expect(hex(digest) == Self.blake2b256OfABC)
    }

    @Test("LMDB: put \"hello\" → \"world\" in a write transaction, read it back in a read-only one")
    func lmdbRoundTrip() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("SystemLibraryTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        var envPointer: OpaquePointer?
        #expect(mdb_env_create(&envPointer) == MDB_SUCCESS)
        guard let env = envPointer else {
            Issue.record("mdb_env_create returned no environment")
            return
        }
        defer { mdb_env_close(env) }

        #expect(mdb_env_set_mapsize(env, 1 << 20) == MDB_SUCCESS)
        let openResult = mdb_env_open(env, directory.path, UInt32(MDB_NOTLS), 0o600)
        #expect(openResult == MDB_SUCCESS, "mdb_env_open: \(lmdbMessage(openResult))")
        guard openResult == MDB_SUCCESS else { return }

        var key = Array("hello".utf8)
        var value = Array("world".utf8)

        // Write transaction: open the unnamed database, put, commit.
        var writeTxnPointer: OpaquePointer?
        #expect(mdb_txn_begin(env, nil, 0, &writeTxnPointer) == MDB_SUCCESS)
        guard let writeTxn = writeTxnPointer else {
            Issue.record("mdb_txn_begin returned no write transaction")
            return
        }
        var dbi: MDB_dbi = 0
        let dbiResult = mdb_dbi_open(writeTxn, nil, 0, &dbi)
        #expect(dbiResult == MDB_SUCCESS, "mdb_dbi_open: \(lmdbMessage(dbiResult))")
        guard dbiResult == MDB_SUCCESS else {
            mdb_txn_abort(writeTxn)
            return
        }
        #expect(!key.isEmpty && !value.isEmpty)
        let putResult = key.withUnsafeMutableBytes { keyBytes -> Int32 in
            value.withUnsafeMutableBytes { valueBytes -> Int32 in
                guard let keyBase = keyBytes.baseAddress, let valueBase = valueBytes.baseAddress else {
                    return EINVAL
                }
                var keyVal = MDB_val(mv_size: keyBytes.count, mv_data: keyBase)
                var valueVal = MDB_val(mv_size: valueBytes.count, mv_data: valueBase)
                return mdb_put(writeTxn, dbi, &keyVal, &valueVal, 0)
            }
        }
        #expect(putResult == MDB_SUCCESS, "mdb_put: \(lmdbMessage(putResult))")
        let commitResult = mdb_txn_commit(writeTxn)  // frees the transaction, success or not
        #expect(commitResult == MDB_SUCCESS, "mdb_txn_commit: \(lmdbMessage(commitResult))")

        // Read-only transaction: get and copy the bytes out before the transaction ends.
        var readTxnPointer: OpaquePointer?
        #expect(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &readTxnPointer) == MDB_SUCCESS)
        guard let readTxn = readTxnPointer else {
            Issue.record("mdb_txn_begin returned no read transaction")
            return
        }
        var found: [UInt8]?
        let getResult = key.withUnsafeMutableBytes { keyBytes -> Int32 in
            guard let keyBase = keyBytes.baseAddress else { return EINVAL }
            var keyVal = MDB_val(mv_size: keyBytes.count, mv_data: keyBase)
            var valueVal = MDB_val(mv_size: 0, mv_data: nil)
            let result = mdb_get(readTxn, dbi, &keyVal, &valueVal)
            if result == MDB_SUCCESS, let data = valueVal.mv_data, valueVal.mv_size <= 1 << 20 {
                found = Array(UnsafeRawBufferPointer(start: data, count: valueVal.mv_size))
            }
            return result
        }
        mdb_txn_abort(readTxn)
        #expect(getResult == MDB_SUCCESS, "mdb_get: \(lmdbMessage(getResult))")
        #expect(found == Array("world".utf8))

        mdb_dbi_close(env, dbi)
    }

    private func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".unicodeScalars)
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.unicodeScalars.append(digits[Int(byte >> 4)])
            text.unicodeScalars.append(digits[Int(byte & 0x0F)])
        }
        return text
    }

    private func lmdbMessage(_ code: Int32) -> String {
        guard let message = mdb_strerror(code) else { return "error \(code)" }
        return String(cString: message)
    }
}
