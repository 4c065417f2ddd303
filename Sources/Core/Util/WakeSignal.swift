import Synchronization

/// Lets one waiter sleep until it is signalled, a timeout passes or its task is cancelled; a
/// signal sent while nobody waits is remembered once (so an enqueue just before the wait is not
/// missed).
///
/// `signal()` is synchronous (a lock, not an actor), so the queue's workers can signal once per
/// finished job without creating a task just to hop onto an actor.
package final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
        var nextID = 0
        /// Waits up to this id have timed out or been cancelled, possibly before they started
        /// to sleep (then they must not sleep at all).
        var expiredThrough = 0
    }

    private let state = Mutex(State())

    package init() {}

    package func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let current = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return current.continuation
        }
        waiter?.resume()
    }

    package func wait(timeout: Duration) async {
        let id = state.withLock { state -> Int? in
            if state.pending {
                state.pending = false
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        let sleeper = Task {
            try? await Task.sleep(for: timeout)
            self.expire(id)
        }
        // A cancelled waiter returns at once (the caller checks for cancellation), instead of
        // holding its task until the timeout.
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // A signal, the timeout or a cancel may have come since the check above.
                let now = state.withLock { state -> Bool in
                    if state.pending || state.expiredThrough >= id {
                        state.pending = false
                        return true
                    }
                    state.waiter = (id, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            self.expire(id)
        }
        sleeper.cancel()
    }

    private func expire(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.expiredThrough = max(state.expiredThrough, id)
            guard let current = state.waiter, current.id == id else { return nil }
            state.waiter = nil
            return current.continuation
        }
        waiter?.resume()
    }
}
