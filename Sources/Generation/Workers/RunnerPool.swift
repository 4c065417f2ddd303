import Atomics
import Core
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// One `JobRunner` per `GPUWorker` row this process holds the lease of. Every few seconds (or at once after an admin change)
/// it takes or renews each enabled worker's lease and starts a `JobRunner` for the ones it holds;
/// it stops workers that were disabled, deleted, edited (then restarts them) or whose lease
/// another process took. It also returns expired job leases to the queue.
package final class RunnerPool: Service, Sendable {
    package let workers: WorkerStore
    package let jobs: JobStore
    let images: ImageStore
    package let factory: BackendFactory
    let settings: QueueSettings
    let provisioner: (any ModelProvisioner)?
    let events: JobEvents
    let logger: Logger
    let holder = ID.make("prc")
    private let runners = NIOLockedValueBox<[String: Runner]>([:])
    /// Checkpoints loaded on workers other processes run, by worker id (from the last refresh).
    private let remoteLoaded = NIOLockedValueBox<[String: String]>([:])
    /// Workers whose backend could not be built here, with the version of the row that failed
    /// (`updated_at`): not leased again until the row changes, so another process may run them.
    private let unbuildable = NIOLockedValueBox<[String: Int64]>([:])
    private let stopping = ManagedAtomic(false)
    private let wake = WakeSignal()

    struct Runner: Sendable {
        var worker: GPUWorker
        var jobRunner: JobRunner
        var task: Task<Void, Never>
        var recordedModel: String?
        /// When this process last renewed the worker's lease (ms).
        var leasedAt: Int64
    }

    package init(
        workers: WorkerStore,
        jobs: JobStore,
        images: ImageStore,
        factory: BackendFactory,
        settings: QueueSettings,
        provisioner: (any ModelProvisioner)?,
        events: JobEvents,
        logger: Logger
    ) {
        self.workers = workers
        self.jobs = jobs
        self.images = images
        self.factory = factory
        self.settings = settings
        self.provisioner = provisioner
        self.events = events
        self.logger = logger
    }

    package func run() async throws {
        do { try await workers.ensureDefault(now: Timestamp.millis(Date())) } catch {
            logger.error("adding the default mock worker failed", metadata: ["error": "\(error)"])
        }
        let interval = Duration.milliseconds(max(200, min(2_000, settings.leaseMillis / 3)))
        // PostgreSQL: jobs queued by any process wake this one's workers at once.
        let database = jobs.database
        let listener = Task { await database.listen(on: database.channel("jobs"), logger: logger) { await self.notify() } }
        defer { listener.cancel() }
        await withTaskCancellationOrGracefulShutdownHandler {
            while !Task.isCancelled && !self.stopping.load(ordering: .relaxed) {
                await self.refresh()
                await self.reap()
                await self.wake.wait(timeout: interval)
            }
        } onCancelOrGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.wake.signal()
        }
        let all = runners.withLockedValue { runners in
            defer { runners.removeAll() }
            return Array(runners.values)
        }
        for runner in all { runner.task.cancel() }
        for runner in all {
            await runner.task.value
            try? await workers.releaseLease(id: runner.worker.id, holder: holder)
        }
    }

    /// Re-reads the workers table now (after an admin change).
    package func reload() async { wake.signal() }

    /// Wakes every worker (jobs were queued).
    package func notify() async {
        for runner in runners.withLockedValue({ Array($0.values) }) { await runner.jobRunner.notify() }
    }

    /// Stops a cancelled job if it runs in this process.
    package func interrupt(_ id: String) {
        for runner in runners.withLockedValue({ Array($0.values) }) { runner.jobRunner.interrupt(id) }
    }

    package func progress(of id: String) -> Double? {
        runners.withLockedValue { Array($0.values) }.lazy.compactMap { $0.jobRunner.progress(of: id) }.first
    }

    /// The workers this process runs, by backend name.
    package var runningBackends: [any GenerationBackend] {
        runners.withLockedValue { $0.values.sorted { $0.worker.name < $1.worker.name }.map(\.jobRunner.backend) }
    }

    package func isRunning(_ workerID: String) -> Bool {
        runners.withLockedValue { $0[workerID] != nil }
    }

    /// Every enabled worker in the database, whichever process runs it: those some process holds
    /// a live lease on first, then the rest, each group by name. Seed 001's queue stats and
    /// backend test read this, so every process sharing the database gives the same answer.
    package func enabledWorkers(now: Int64) async throws -> [GPUWorker] {
        let enabled = try await workers.all().filter(\.enabled)
        let live = enabled.filter { $0.leaseHolder != nil && ($0.leaseExpiresAt ?? 0) > now }
        return live + enabled.filter { row in !live.contains { $0.id == row.id } }
    }

    /// A backend to talk to `worker`: the one running here when this process holds that version of
    /// the row, otherwise one built from the row (its endpoint, sealed token and options), which
    /// runs no jobs and is only used for the call at hand.
    package func backend(for worker: GPUWorker) throws -> any GenerationBackend {
        if let runner = runners.withLockedValue({ $0[worker.id] }), runner.worker.updatedAt == worker.updatedAt {
            return runner.jobRunner.backend
        }
        return try factory.make(worker)
    }

    func refresh() async {
        let rows: [GPUWorker]
        do { rows = try await workers.all() } catch {
            logger.error("reading workers failed", metadata: ["error": "\(error)"])
            return
        }
        let now = Timestamp.millis(Date())
        remoteLoaded.withLockedValue { loaded in
            loaded = [:]
            for row in rows where row.enabled && row.leaseHolder != holder && (row.leaseExpiresAt ?? 0) > now {
                if let model = row.loadedModel { loaded[row.id] = model }
            }
        }
        var keep: Set<String> = []
        for row in rows where row.enabled && !stopping.load(ordering: .relaxed) {
            if unbuildable.withLockedValue({ $0[row.id] }) == row.updatedAt { continue }
            let leased: Bool
            do {
                leased = try await workers.lease(id: row.id, holder: holder, leaseMillis: settings.leaseMillis, now: now)
            } catch {
                // A renewal that failed (a pool timeout, a busy database) is not a lease lost:
                // stopping the worker would interrupt every render in progress. It keeps running
                // only while its lease will outlast the next refresh (a third of a lease away):
                // once the lease expires another process may take the worker.
                logger.warning("renewing a worker's lease failed", metadata: ["worker": "\(row.name)", "error": "\(error)"])
                let late = Timestamp.millis(Date())
                if let current = runners.withLockedValue({ $0[row.id] }), late - current.leasedAt < settings.leaseMillis * 2 / 3 {
                    keep.insert(row.id)
                }
                continue
            }
            guard leased else { continue }
            keep.insert(row.id)
            runners.withLockedValue { $0[row.id]?.leasedAt = now }
            let current = runners.withLockedValue { $0[row.id] }
            if let current, current.worker.updatedAt == row.updatedAt {
                let model = current.jobRunner.loadedModel
                if model != current.recordedModel {
                    try? await workers.record(id: row.id, loadedModel: model, lastError: nil)
                    runners.withLockedValue { $0[row.id]?.recordedModel = model }
                }
                continue
            }
            if let current { await stop(current) }
            if !start(row, leasedAt: now) {
                try? await workers.releaseLease(id: row.id, holder: holder)
                keep.remove(row.id)
            }
        }
        for runner in runners.withLockedValue({ Array($0.values) }) where !keep.contains(runner.worker.id) {
            await stop(runner)
            try? await workers.releaseLease(id: runner.worker.id, holder: holder)
        }
    }

    /// Starts a worker's runner; false when its backend cannot be built here (the error is
    /// recorded on the row once, and the row is left alone until it changes).
    @discardableResult
    func start(_ worker: GPUWorker, leasedAt: Int64) -> Bool {
        let backend: any GenerationBackend
        do { backend = try factory.make(worker) } catch {
            logger.error("worker cannot start", metadata: ["worker": "\(worker.name)", "error": "\(error)"])
            unbuildable.withLockedValue { $0[worker.id] = worker.updatedAt }
            Task { try? await workers.record(id: worker.id, loadedModel: nil, lastError: "\(error)") }
            return false
        }
        unbuildable.withLockedValue { $0[worker.id] = nil }
        let jobRunner = JobRunner(
            worker: worker,
            backend: backend,
            store: jobs,
            images: images,
            settings: settings,
            provisioner: provisioner,
            events: events,
            loadedElsewhere: { [weak self] id in self?.loadedModels(except: id) ?? [] },
            logger: logger
        )
        let task = Task { do { try await jobRunner.run() } catch {} }
        runners.withLockedValue {
            $0[worker.id] = Runner(worker: worker, jobRunner: jobRunner, task: task, recordedModel: worker.loadedModel, leasedAt: leasedAt)
        }
        logger.info("worker started", metadata: ["worker": "\(worker.name)", "backend": "\(backend.name)"])
        return true
    }

    func stop(_ runner: Runner) async {
        runners.withLockedValue { if $0[runner.worker.id]?.task == runner.task { $0[runner.worker.id] = nil } }
        runner.task.cancel()
        await runner.task.value
    }

    /// Checkpoints loaded on every worker but `workerID`, here and in other processes.
    func loadedModels(except workerID: String) -> [String] {
        let local = runners.withLockedValue { runners in
            runners.values.filter { $0.worker.id != workerID }.map(\.jobRunner)
        }.compactMap(\.loadedModel)
        return local + remoteLoaded.withLockedValue { $0.filter { $0.key != workerID }.map(\.value) }
    }

    func reap() async {
        do {
            let count = try await jobs.reapExpired(now: Timestamp.millis(Date()))
            if count > 0 {
                logger.notice("jobs returned to the queue after their lease expired", metadata: ["count": "\(count)"])
                await notify()
            }
        } catch {
            logger.error("returning expired jobs failed", metadata: ["error": "\(error)"])
        }
    }
}
