import Foundation

/// Splits a file into blocks (the unit written, hashed and recorded for resume) and hands out runs
/// of consecutive blocks to the connections: one range request per run, so a signed-URL CDN that
/// checks every request sees few of them. Runs are handed out in file order, so the hasher, which
/// must see the bytes in order, follows close behind the downloads.
///
/// A block is written by exactly one connection: before writing a block a worker `commit`s it, and
/// a block can be taken from a worker only while it is not committed. That is how a run is shared
/// out near the end (an idle connection takes the back half of the longest run) and how a stuck
/// connection is left behind (its blocks are taken back and fetched by another), without two
/// connections ever writing the same bytes.
actor BlockScheduler {
    enum Block: Equatable {
        case pending
        /// Part of a worker's run, not yet received.
        case claimed(worker: Int)
        /// Being written by its worker: it can no longer be taken away.
        case writing
        case done
    }

    /// A worker's current range request: blocks `first..<end`; `end` may shrink when blocks are
    /// taken away (the worker learns it at its next `commit`).
    struct Run: Equatable {
        var first: Int
        var end: Int
    }

    private(set) var blocks: [Block]
    private var runs: [Int: Run] = [:]
    /// Next block the hasher needs.
    private var hashCursor = 0
    private let maxRunBlocks: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var failure: (any Error)?
    private(set) var changedSinceSave = false

    /// `maxRunBlocks`: the longest run (one range request) handed out at once.
    init(blockCount: Int, alreadyDone: [Bool], maxRunBlocks: Int) {
        precondition(alreadyDone.count == blockCount)
        blocks = alreadyDone.map { $0 ? .done : .pending }
        self.maxRunBlocks = max(1, maxRunBlocks)
    }

    var doneMap: [Bool] { blocks.map { $0 == .done } }
    var failed: (any Error)? { failure }
    func markSaved() { changedSinceSave = false }

    // MARK: workers

    /// The next run for `worker`; waits while every block left is another connection's (or while
    /// `worker` is past the connection count), and is nil once all are received or the download
    /// failed.
    func claim(worker: Int) async -> Run? {
        // Whatever of its last run the worker did not receive is free again.
        abandon(worker: worker)
        while failure == nil && !Task.isCancelled {
            if !blocks.contains(where: { if case .claimed = $0 { true } else { $0 == .pending } }) { return nil }
            // Connections past the current count wait until the tuner asks for them.
            if worker < connections, let run = nextRun(worker: worker, activeWorkers: connections) { return run }
            // Blocks still out with other connections: one may be revoked or abandoned.
            await wait()
        }
        return nil
    }

    /// How many connections claim runs now (`ConnectionTuner`).
    private(set) var connections: Int = 1

    func setConnections(_ count: Int) {
        connections = max(1, count)
        wakeAll()
    }

    private func nextRun(worker: Int, activeWorkers: Int) -> Run? {
        if let first = blocks.firstIndex(of: .pending) {
            var end = first + 1
            let pendingLeft = blocks[first...].reduce(0) { $0 + ($1 == .pending ? 1 : 0) }
            // Long runs while plenty is left; shorter ones near the end, so the last requests
            // finish together.
            let share = max(1, pendingLeft / max(1, activeWorkers * 2))
            let length = min(maxRunBlocks, share)
            while end < blocks.count && end - first < length && blocks[end] == .pending { end += 1 }
            return assign(first..<end, to: worker)
        }
        // Nothing pending: take the back half of the longest run still to be received.
        let candidates = runs.compactMap { owner, run -> (owner: Int, from: Int, count: Int)? in
            let remaining = (run.first..<run.end).filter { blocks[$0] == .claimed(worker: owner) }
            guard remaining.count >= 2 else { return nil }
            return (owner, remaining[remaining.count / 2], remaining.count - remaining.count / 2)
        }
        guard let longest = candidates.max(by: { $0.count < $1.count }) else { return nil }
        let taken = takeBack(from: longest.owner, startingAt: longest.from)
        return taken.isEmpty ? nil : assign(taken, to: worker)
    }

    private func assign(_ range: Range<Int>, to worker: Int) -> Run {
        for index in range { blocks[index] = .claimed(worker: worker) }
        let run = Run(first: range.lowerBound, end: range.upperBound)
        runs[worker] = run
        return run
    }

    /// Takes the unreceived blocks of `owner`'s run from `start` on; they become pending (if the
    /// caller does not assign them) and the owner's run ends before them.
    private func takeBack(from owner: Int, startingAt start: Int) -> Range<Int> {
        guard var run = runs[owner], start < run.end else { return start..<start }
        var index = start
        // Only the contiguous unreceived tail: a committed block stays its writer's.
        while index < run.end, blocks[index] == .claimed(worker: owner) { index += 1 }
        guard index == run.end else { return start..<start }
        for block in start..<run.end { blocks[block] = .pending }
        let taken = start..<run.end
        run.end = start
        runs[owner] = run
        return taken
    }

    /// A worker has received block `index` and asks to write it: the end of its run as it stands
    /// now, or nil when the block was taken away (the worker stops its request and claims anew).
    func commit(worker: Int, _ index: Int) -> Int? {
        guard blocks[index] == .claimed(worker: worker), let run = runs[worker] else { return nil }
        blocks[index] = .writing
        return run.end
    }

    /// Block `index` is on disk.
    func written(_ index: Int) {
        blocks[index] = .done
        changedSinceSave = true
        wakeAll()
    }

    /// A worker's request failed or stopped early: its blocks not yet committed go back to pending.
    func abandon(worker: Int) {
        if let run = runs[worker] {
            for index in run.first..<run.end where blocks[index] == .claimed(worker: worker) { blocks[index] = .pending }
        }
        runs[worker] = nil
        wakeAll()
    }

    /// A connection that has received nothing for a while: its blocks are taken back, so the next
    /// claim (any idle connection) fetches them again. Its next `commit` is refused.
    func revoke(worker: Int) {
        guard let run = runs[worker] else { return }
        let from = (run.first..<run.end).first { blocks[$0] == .claimed(worker: worker) } ?? run.end
        _ = takeBack(from: worker, startingAt: from)
        wakeAll()
    }

    /// Workers whose run holds the block the hasher waits for (the candidates for `revoke`).
    var blockingHasher: Int? {
        guard hashCursor < blocks.count, case .claimed(let worker) = blocks[hashCursor] else { return nil }
        return worker
    }

    var hasPending: Bool { blocks.contains(.pending) }

    /// Stops every worker and the hasher.
    func fail(_ error: any Error) {
        if failure == nil { failure = error }
        wakeAll()
    }

    // MARK: hasher

    /// The next blocks in file order that are on disk (at most `limit`); suspends until there is one.
    func nextForHash(limit: Int) async throws -> Range<Int> {
        while true {
            if let failure { throw failure }
            try Task.checkCancellation()
            var end = hashCursor
            while end < blocks.count && end - hashCursor < limit && blocks[end] == .done { end += 1 }
            if end > hashCursor { return hashCursor..<end }
            await wait()
        }
    }

    func hashed(upTo end: Int) {
        hashCursor = end
    }

    /// Wakes every waiter so it re-checks (periodically, from the ticker).
    func tick() { wakeAll() }

    private func wait() async {
        await withCheckedContinuation { waiters.append($0) }
    }

    private func wakeAll() {
        let current = waiters
        waiters.removeAll()
        for waiter in current { waiter.resume() }
    }
}
