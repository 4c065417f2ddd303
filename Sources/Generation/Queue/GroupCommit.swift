import NIOConcurrencyHelpers

/// Collects concurrent writes and runs them together, like a database's group commit: while one
/// batch is being written, new requests queue up, and the next batch takes all of them. One
/// transaction (one fsync, a few round trips) then serves many callers, and a lone caller waits
/// for nobody. If a batch fails, its requests are retried one by one, so one caller's bad row does
/// not fail the others. With `flushers` > 1, that many batches may be written at once (on
/// different connections), so a batch does not wait for the round trips of the one before it.
final class GroupCommit<Input: Sendable, Output: Sendable>: Sendable {
    typealias Flush = @Sendable ([Input]) async throws -> [Output]

    private struct Waiter: Sendable {
        var input: Input
        var continuation: CheckedContinuation<Output, any Error>
    }

    private struct State: Sendable {
        var waiters: [Waiter] = []
        var flushing = 0
    }

    private let state = NIOLockedValueBox(State())
    private let flush: Flush
    private let maxBatch: Int
    private let flushers: Int

    init(maxBatch: Int = 128, flushers: Int = 1, flush: @escaping Flush) {
        self.maxBatch = maxBatch
        self.flushers = max(1, flushers)
        self.flush = flush
    }

    func submit(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let leads = state.withLockedValue { state -> Bool in
                state.waiters.append(Waiter(input: input, continuation: continuation))
                if state.flushing >= flushers { return false }
                state.flushing += 1
                return true
            }
            if leads { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLockedValue { state -> [Waiter] in
                let batch = Array(state.waiters.prefix(maxBatch))
                state.waiters.removeFirst(batch.count)
                if batch.isEmpty { state.flushing -= 1 }
                return batch
            }
            if batch.isEmpty { return }
            do {
                let outputs = try await flush(batch.map(\.input))
                for (waiter, output) in zip(batch, outputs) { waiter.continuation.resume(returning: output) }
            } catch {
                if batch.count == 1 {
                    batch[0].continuation.resume(throwing: error)
                    continue
                }
                for waiter in batch {
                    do { waiter.continuation.resume(returning: try await flush([waiter.input])[0]) } catch {
                        waiter.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }
}
