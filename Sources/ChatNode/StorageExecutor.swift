import Dispatch

/// A serial executor on its own dispatch queue, for actors whose methods block on storage
/// (LMDB commits wait for fsync). Running them on Swift's cooperative pool — one thread per
/// core — would let a slow disk stall every other task of the process; a dispatch queue's
/// thread may block without starving the pool.
final class StorageExecutor: SerialExecutor, @unchecked Sendable {
    // Unchecked: the only state is a dispatch queue, which is thread-safe.
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}
