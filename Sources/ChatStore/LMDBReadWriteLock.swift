#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX read-write lock guarding an LMDB memory map: every transaction holds it shared, and
/// `mdb_env_set_mapsize` (which unmaps and remaps the file) holds it exclusively.
///
/// LMDB requires that no transaction of the process is active while the map is resized; this lock is
/// how `LMDBEnvironment` guarantees it. Do not nest acquisitions on one thread: an exclusive one
/// inside a shared one deadlocks, and where the platform's rwlock prefers writers (Darwin) so can a
/// shared one inside a shared one.
final class LMDBReadWriteLock: @unchecked Sendable {
    // SAFETY: the pthread_rwlock_t lives at a stable heap address allocated in init and destroyed in
    // deinit; pthread_rwlock_* functions are themselves thread-safe, which is the point of the type.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        let result = pthread_rwlock_init(lock, nil)
        precondition(result == 0, "pthread_rwlock_init failed: \(result)")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deinitialize(count: 1)
        lock.deallocate()
    }

    /// Runs `body` holding the lock shared.
    @inline(__always)
    func withShared<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` holding the lock exclusively.
    @inline(__always)
    func withExclusive<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
