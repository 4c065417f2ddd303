import Foundation
import NIOCore

/// Hands out pieces of a file to the connection workers and gives them back, in order, to the
/// hasher. SHA-256 must see the bytes in file order, so pieces that finish early wait in memory
/// until the hasher reaches them; a window (in pieces past the hasher) bounds that memory and is
/// the downloader's backpressure. When the piece the hasher waits for is slow, an idle worker
/// fetches it again in parallel ("hedging"); whichever copy arrives first is used.
actor PieceScheduler {
    enum Piece {
        case pending
        case inFlight(since: ContinuousClock.Instant, hedged: Bool)
        /// Written to the part file; the buffer is kept until hashed.
        case done(ByteBuffer)
        /// On disk from an earlier run; the hasher reads it back.
        case onDisk
        case hashed
    }

    enum HashInput {
        case memory(ByteBuffer)
        case disk
    }

    private var pieces: [Piece]
    private var hashCursor = 0
    private let window: Int
    private let hedgeAfter: Duration
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// Pieces written to disk, for the resume sidecar.
    private(set) var onDiskMap: [Bool]
    private(set) var changedSinceSave = false
    private var failure: (any Error)?

    init(pieceCount: Int, alreadyOnDisk: [Bool], window: Int, hedgeAfter: Duration = .seconds(3)) {
        self.pieces = alreadyOnDisk.map { $0 ? .onDisk : .pending }
        self.onDiskMap = alreadyOnDisk
        self.window = max(1, window)
        self.hedgeAfter = hedgeAfter
        precondition(alreadyOnDisk.count == pieceCount)
    }

    /// The next piece a worker should fetch, or nil when there is nothing left to fetch.
    /// Suspends while the window is full.
    func claim() async -> Int? {
        while true {
            if failure != nil || Task.isCancelled { return nil }
            let limit = min(pieces.count, hashCursor + window)
            if let index = (hashCursor..<limit).first(where: { if case .pending = pieces[$0] { true } else { false } }) {
                pieces[index] = .inFlight(since: .now, hedged: false)
                return index
            }
            // Hedge the piece the hasher is blocked on when it has been in flight too long.
            if hashCursor < pieces.count, case .inFlight(let since, false) = pieces[hashCursor],
                ContinuousClock.now - since > hedgeAfter
            {
                pieces[hashCursor] = .inFlight(since: since, hedged: true)
                return hashCursor
            }
            let anythingLeft = pieces[hashCursor...].contains { if case .pending = $0 { true } else { false } }
            let anythingInFlight = pieces.contains { if case .inFlight = $0 { true } else { false } }
            if !anythingLeft && !anythingInFlight { return nil }
            if !anythingLeft && hashCursor >= pieces.count { return nil }
            await wait()
        }
    }

    /// A worker finished piece `index` (already written to disk). A late duplicate is ignored.
    func complete(_ index: Int, _ buffer: ByteBuffer) {
        guard case .inFlight = pieces[index] else { return }
        pieces[index] = .done(buffer)
        onDiskMap[index] = true
        changedSinceSave = true
        wakeAll()
    }

    /// A worker gave up on a piece (it will be retried by whoever claims it next).
    func release(_ index: Int) {
        if case .inFlight = pieces[index] { pieces[index] = .pending }
        wakeAll()
    }

    /// Stops every worker and the hasher.
    func fail(_ error: any Error) {
        if failure == nil { failure = error }
        wakeAll()
    }

    var failed: (any Error)? { failure }

    /// The next piece in file order for the hasher; suspends until it is available.
    func nextForHash() async throws -> HashInput {
        while true {
            if let failure { throw failure }
            try Task.checkCancellation()
            switch pieces[hashCursor] {
            case .done(let buffer): return .memory(buffer)
            case .onDisk: return .disk
            default: await wait()
            }
        }
    }

    /// The hasher has consumed the piece at the cursor: free its memory and open the window.
    func hashed() {
        pieces[hashCursor] = .hashed
        hashCursor += 1
        wakeAll()
    }

    func markSaved() { changedSinceSave = false }

    /// Wakes every waiter so it re-checks (called on changes, and periodically for hedging).
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
