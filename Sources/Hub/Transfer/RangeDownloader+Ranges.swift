import AsyncHTTPClient
import Atomics
import Core
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore

extension RangeDownloader {
    /// The parallel download: connections fetch runs of blocks (one range request each) and write
    /// each block as soon as it is whole, from a buffer they reuse; the hasher reads the blocks back
    /// in file order while they are still in the page cache. Memory is one block per connection
    /// plus the hasher's buffer, whatever the file's size.
    func downloadRanges(
        _ request: FileRequest,
        probe: Probe,
        size: Int64,
        partPath: String,
        options: DownloadOptions,
        progress: @escaping @Sendable (DownloadProgress) -> Void
    ) async throws -> (sha256: String, size: Int64, resumed: Int64) {
        let sidecarPath = partPath + ".json"
        var state = ResumeState(
            source: request.url.absoluteString,
            size: size,
            pieceSize: Self.pieceSize(for: size, maximum: options.pieceSize),
            etag: probe.etag,
            expectedSHA256: request.expectedSHA256,
            pieces: ""
        )
        // An earlier run's blocks are kept whatever block size it used (an older version's).
        if let previous = ResumeState.load(sidecarPath), previous.describesSameFile(as: state),
            previous.pieceCount == Self.blockCount(size: size, blockSize: previous.pieceSize),
            FileManager.default.fileExists(atPath: partPath)
        {
            state = previous
        } else {
            discard(partPath)
            state.pieces = String(repeating: "0", count: Self.blockCount(size: size, blockSize: state.pieceSize))
        }
        let blockSize = state.pieceSize
        let blockCount = state.pieceCount
        let file = try PartFile(path: partPath)
        defer { file.close() }
        let onDisk = state.doneMap
        let resumedBytes = (0..<blockCount).filter { onDisk[$0] }.reduce(Int64(0)) { $0 + Self.length(of: $1, size: size, pieceSize: blockSize) }
        if let free = freeSpace(at: (partPath as NSString).deletingLastPathComponent), free < size - resumedBytes + (16 << 20) {
            throw AppError(
                .init(code: 507, reasonPhrase: "Insufficient Storage"),
                "not enough disk space for \(request.filename): it needs \(Format.bytes(size - resumedBytes)), \(Format.bytes(free)) is free",
                code: "no_space"
            )
        }
        if try file.size() != size { try file.truncate(to: size) }
        try state.save(sidecarPath)

        let initialTuner = ConnectionTuner(fixed: options.connections)
        let scheduler = BlockScheduler(
            blockCount: blockCount,
            alreadyDone: onDisk,
            maxRunBlocks: max(1, options.maxRequestBytes / blockSize)
        )
        await scheduler.setConnections(initialTuner.target)
        let fetch = RunFetch(
            downloader: self,
            request: request,
            location: NIOLockedValueBox(
                .init(
                    url: probe.finalURL,
                    // Tokens go to their own origin only, never to the CDN a hub redirects to.
                    credentials: HubHTTP.origin(probe.finalURL) == HubHTTP.origin(request.url) ? request.credentials : nil
                )
            ),
            name: request.filename,
            size: size,
            blockSize: blockSize,
            file: file,
            scheduler: scheduler,
            received: ManagedAtomic<Int64>(resumedBytes),
            limiter: options.limiter,
            attempts: options.maxAttempts,
            lastReceived: (0..<initialTuner.maximum).map { _ in ManagedAtomic<UInt64>(0) }
        )
        let hashedBytes = ManagedAtomic<Int64>(0)
        let connectionsNow = ManagedAtomic<Int>(initialTuner.target)
        let report = ProgressReporter(
            total: size,
            resumed: resumedBytes,
            connections: connectionsNow,
            received: fetch.received,
            hashed: hashedBytes,
            callback: progress
        )
        let ticker = Ticker(
            tuner: initialTuner,
            fetch: fetch,
            report: report,
            connectionsNow: connectionsNow,
            hedgeAfter: options.hedgeAfter,
            resumedBytes: resumedBytes,
            sidecar: state,
            sidecarPath: sidecarPath
        )
        do {
            let executor = DownloadExecutor(label: "atelier.download")
            let digest = try await withTaskCancellationHandler { () async throws -> String in
                try await withTaskExecutorPreference(executor) {
                    try await transfer(fetch: fetch, ticker: ticker, connections: initialTuner.maximum, hashed: hashedBytes)
                }
            } onCancel: {
                // Waiters in the scheduler do not see cancellation by themselves.
                Task { await scheduler.fail(CancellationError()) }
            }
            report.emit()
            try await file.sync()
            return (digest, size, resumedBytes)
        } catch {
            // Keep what is on disk for the next attempt, unless the content itself was wrong.
            var snapshot = state
            snapshot.pieces = String((await scheduler.doneMap).map { $0 ? "1" : "0" })
            try? snapshot.save(sidecarPath)
            if let appError = error as? AppError, appError.code == "not_a_model_file" { discard(partPath) }
            throw error
        }
    }

    /// Runs the connections, the hasher and the ticker until the file is received and hashed.
    private func transfer(fetch: RunFetch, ticker: Ticker, connections: Int, hashed: ManagedAtomic<Int64>) async throws -> String {
        try await withThrowingTaskGroup(of: String?.self, returning: String.self) { group in
            group.addTask {
                await ticker.run()
                return nil
            }
            for worker in 0..<connections {
                group.addTask {
                    try await fetch.work(as: worker)
                    return nil
                }
            }
            group.addTask { try await fetch.hashInOrder(hashed: hashed) }
            var digest: String?
            while true {
                do {
                    guard let result = try await group.next() else { break }
                    if let result {
                        digest = result
                        // The file is whole and hashed: stop the ticker and any connection still
                        // stuck on a request whose blocks another one fetched.
                        group.cancelAll()
                    }
                } catch {
                    // Once the hash is in, a cancelled straggler's error does not matter.
                    if digest == nil {
                        await fetch.scheduler.fail(error)
                        throw error
                    }
                }
            }
            guard let digest else { throw CancellationError() }
            return digest
        }
    }

    /// The hasher reads this much at a time (a few blocks).
    static let hashChunk = 4 << 20

    /// About 64 blocks per file, between 256 KiB and `maximum`, so small files still spread over
    /// the connections.
    static func pieceSize(for size: Int64, maximum: Int) -> Int {
        let target = Int(size / 64)
        let rounded = (target / (64 << 10)) * (64 << 10)
        return min(maximum, max(256 << 10, rounded))
    }

    static func blockCount(size: Int64, blockSize: Int) -> Int {
        max(1, Int((size + Int64(blockSize) - 1) / Int64(blockSize)))
    }

    static func length(of index: Int, size: Int64, pieceSize: Int) -> Int64 {
        let offset = Int64(index) * Int64(pieceSize)
        return min(Int64(pieceSize), size - offset)
    }

    func backoff(attempt: Int, atLeast seconds: Int) async throws {
        let base = min(8.0, 0.25 * pow(2.0, Double(attempt)))
        let jittered = base * Double.random(in: 0.5...1.0)
        try await Task.sleep(for: .milliseconds(Int(max(Double(seconds), jittered) * 1000)))
    }
}
