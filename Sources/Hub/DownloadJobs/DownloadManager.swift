import Accounts
import Atomics
import Core
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs API downloads in the background: claims queued ones from the database (at most
/// `maxConcurrent` at a time in this process), keeps their lease alive, records progress and the
/// outcome. On graceful shutdown running downloads go back to the queue, and their partial files
/// let the next start resume them; after a crash their lease expires and any process resumes them.
package final class DownloadManager: Service, Sendable {
    package let store: DownloadStore
    package let board = DownloadBoard()
    let hub: HubService
    let holder = ID.make("proc")
    let maxConcurrent: Int
    let leaseMillis: Int64 = 15_000
    let pollInterval: Duration
    let logger: Logger
    let onFinished: @Sendable (DownloadRecord) async -> Void
    /// The task running each claimed download here, tagged so that a finishing task removes only
    /// its own entry (a retry may claim the same id while a cancelled run still unwinds).
    private let running = NIOLockedValueBox<[String: Running]>([:])
    private let wake = WakeSignal()
    private let stopping = ManagedAtomic(false)

    package init(
        hub: HubService,
        store: DownloadStore,
        maxConcurrent: Int,
        pollInterval: Duration = .seconds(1),
        logger: Logger,
        onFinished: @escaping @Sendable (DownloadRecord) async -> Void = { _ in }
    ) {
        self.hub = hub
        self.store = store
        self.maxConcurrent = max(1, maxConcurrent)
        self.pollInterval = pollInterval
        self.logger = logger
        self.onFinished = onFinished
    }

    struct Running: Sendable {
        var token: String
        var task: Task<Void, Never>
    }

    // MARK: API

    package func enqueue(
        reference: HubReference,
        layout: String?,
        kind: ModelKind?,
        owner: String,
        idempotencyKey: String?
    ) async throws -> DownloadRecord {
        if let layout { _ = try hub.layout(layout) }
        let now = Timestamp.millis(Date())
        let record = DownloadRecord(
            id: ID.make("dl"),
            ownerID: owner,
            ref: reference.description,
            layout: layout,
            kind: kind?.rawValue,
            status: .queued,
            totalBytes: nil,
            receivedBytes: 0,
            files: [],
            error: nil,
            attempts: 0,
            idempotencyKey: idempotencyKey,
            createdAt: now,
            updatedAt: now,
            startedAt: nil,
            finishedAt: nil
        )
        let stored = try await store.insert(record)
        wake.signal()
        return stored
    }

    package func cancel(_ record: DownloadRecord) async throws -> DownloadRecord {
        guard !record.status.isFinal else {
            throw AppError.conflict("download \(record.id) has already \(record.status.rawValue)")
        }
        let updated = try await store.cancel(id: record.id, now: Timestamp.millis(Date())) ?? record
        running.withLockedValue { $0[record.id] }?.task.cancel()
        return updated
    }

    package func retry(_ record: DownloadRecord) async throws -> DownloadRecord {
        guard record.status == .failed || record.status == .cancelled else {
            throw AppError.conflict("only failed or cancelled downloads can be retried; \(record.id) is \(record.status.rawValue)")
        }
        let updated = try await store.retry(id: record.id, now: Timestamp.millis(Date())) ?? record
        wake.signal()
        return updated
    }

    // MARK: service

    package func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await self.loop()
        } onCancelOrGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.wake.signal()
        }
        // Shutting down: stop what runs here; each goes back to the queue.
        let tasks = running.withLockedValue { $0.values.map(\.task) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    func loop() async {
        while !Task.isCancelled && !stopping.load(ordering: .relaxed) {
            await claimAvailable()
            // Wait for an enqueue or a finished download, or poll (other processes, expired leases).
            await wake.wait(timeout: pollInterval)
        }
    }

    func claimAvailable() async {
        while running.withLockedValue({ $0.count }) < maxConcurrent && !stopping.load(ordering: .relaxed) {
            let claimed: DownloadRecord?
            do {
                claimed = try await store.claim(holder: holder, leaseMillis: leaseMillis, now: Timestamp.millis(Date()))
            } catch {
                logger.error("claiming a download failed", metadata: ["error": "\(error)"])
                return
            }
            guard let record = claimed else { return }
            // A retried download can be claimed while its cancelled run still unwinds (it may be
            // writing its last piece or the resume sidecar): the new run starts after the old one
            // ends, so two runs never share the partial file.
            let token = ID.make("run")
            running.withLockedValue { running in
                let previous = running[record.id]?.task
                let task = Task {
                    await previous?.value
                    await self.execute(record, token: token)
                }
                running[record.id] = Running(token: token, task: task)
            }
        }
    }

    func execute(_ record: DownloadRecord, token: String) async {
        var logger = self.logger
        logger[metadataKey: "download_id"] = .string(record.id)
        let progress = NIOLockedValueBox(DownloadBoard.Live(file: nil, totalBytes: nil, receivedBytes: 0, bytesPerSecond: 0))
        let board = self.board
        let id = record.id
        let work = Task {
            let reference = try HubReference.parse(record.ref)
            let layout = try hub.layout(record.layout)
            return try await hub.pull(
                reference,
                layout: layout,
                kind: record.kind.flatMap(ModelKind.init),
                onProgress: { name, snapshot in
                    let live = DownloadBoard.Live(
                        file: name,
                        totalBytes: snapshot.totalBytes,
                        receivedBytes: snapshot.receivedBytes,
                        bytesPerSecond: snapshot.bytesPerSecond
                    )
                    progress.withLockedValue { $0 = live }
                    board.update(id, live)
                }
            )
        }
        // Heartbeat: keep the lease, save progress, notice a cancel made through another process.
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(leaseMillis / 3)))
                if Task.isCancelled { break }
                let live = progress.withLockedValue { $0 }
                let status = try? await store.heartbeat(
                    id: id,
                    holder: holder,
                    leaseMillis: leaseMillis,
                    now: Timestamp.millis(Date()),
                    total: live.totalBytes,
                    received: live.receivedBytes
                )
                if status != .running { work.cancel() }
            }
        }
        let outcome = await withTaskCancellationHandler {
            await work.result
        } onCancel: {
            work.cancel()
        }
        heartbeat.cancel()
        board.remove(id)
        let live = progress.withLockedValue { $0 }
        let now = Timestamp.millis(Date())
        var final: DownloadRecord.Status
        var files: [DownloadRecord.File] = []
        var error: String?
        switch outcome {
        case .success(let pulled):
            final = .succeeded
            files = pulled.map {
                DownloadRecord.File(
                    path: $0.path,
                    sha256: $0.sha256,
                    size: $0.size,
                    already_present: $0.alreadyPresent,
                    catalog_key: $0.entry.key
                )
            }
        case .failure(let failure):
            if Task.isCancelled || failure is CancellationError {
                // Shutdown (or a cancel, which already set the row to cancelled): back to the queue;
                // the conditional UPDATE leaves a cancelled row as it is.
                final = .queued
            } else {
                final = .failed
                error = (failure as? AppError)?.detail ?? "\(failure)"
            }
        }
        do {
            try await store.finish(
                id: id,
                holder: holder,
                status: final,
                files: files,
                error: error,
                total: live.totalBytes,
                received: live.receivedBytes,
                now: now
            )
        } catch {
            logger.error("recording a download's outcome failed", metadata: ["error": "\(error)"])
        }
        running.withLockedValue { if $0[id]?.token == token { $0[id] = nil } }
        logger.info("download \(final.rawValue)", metadata: error.map { ["error": .string($0)] } ?? [:])
        if final.isFinal, let stored = try? await store.find(id: id) { await onFinished(stored) }
        wake.signal()
    }
}
