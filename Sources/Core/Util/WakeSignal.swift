/// Lets one waiter sleep until it is signalled, a timeout passes or its task is cancelled; a
/// signal sent while nobody waits is remembered once (so an enqueue just before the wait is not
/// missed).
public actor WakeSignal {
    public init() {}

    private var pending = false
    private var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
    private var nextID = 0

    public func signal() {
        if let current = waiter {
            waiter = nil
            current.continuation.resume()
        } else {
            pending = true
        }
    }

    public func wait(timeout: Duration) async {
        if pending {
            pending = false
            return
        }
        nextID += 1
        let id = nextID
        let sleeper = Task {
            try? await Task.sleep(for: timeout)
            await self.expire(id)
        }
        // A cancelled waiter returns at once (the caller checks for cancellation), instead of
        // holding its task until the timeout.
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter = (id, $0) }
        } onCancel: {
            Task { await self.expire(id) }
        }
        sleeper.cancel()
    }

    private func expire(_ id: Int) {
        if let current = waiter, current.id == id {
            waiter = nil
            current.continuation.resume()
        }
    }
}
