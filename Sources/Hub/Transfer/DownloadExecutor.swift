import Dispatch

/// The executor a ranged download's tasks run on: a concurrent queue of its own. The connections
/// write each block with a blocking `pwritev` from the task that received it, which saves a thread
/// hop per block (waking and switching threads cost more system time than the writes' copies).
/// Blocking is fine on this queue, which runs nothing else and gets more threads when its own are
/// blocked; it would not be on Swift's shared cooperative pool, where a write stalled by the
/// kernel's dirty-page throttling would stall the server's other tasks. (Concurrent, not serial:
/// one thread measured 5-10 % slower than two; a task's jobs still run one at a time.)
final class DownloadExecutor: TaskExecutor {
    let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
