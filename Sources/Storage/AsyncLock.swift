/// A FIFO lock for async code. SQLite allows one writer at a time; queueing writers here, in
/// the process, keeps them from busy-waiting inside SQLite on worker threads (which, with few
/// threads, starves the transaction that holds the lock of a thread to commit on).
package actor AsyncLock {
    package init() {}

    private var locked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    package func lock() async {
        if !locked {
            locked = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    package func unlock() {
        if waiters.isEmpty {
            locked = false
        } else {
            // Ownership passes straight to the next waiter; `locked` stays true.
            waiters.removeFirst().resume()
        }
    }

    package func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await lock()
        do {
            let result = try await body()
            unlock()
            return result
        } catch {
            unlock()
            throw error
        }
    }
}
