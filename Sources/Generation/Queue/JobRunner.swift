import Atomics
import Core
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The claim loop of one `GPUWorker`: runs queued generations on its backend endpoint: claims jobs while it has free
/// slots, preferring ones for the checkpoint it has loaded, prepares the job's models (pulling
/// missing ones through the hub), heartbeats the lease, stores the image, and records success, a
/// retry (exponential backoff with jitter) or failure. On graceful shutdown running jobs go back
/// to the queue uncounted.
package final class JobRunner: Service, Sendable {
    package let store: JobStore
    package let worker: GPUWorker
    package let backend: any GenerationBackend
    package let images: ImageStore
    let holder = ID.make("wrk")
    let settings: QueueSettings
    let provisioner: (any ModelProvisioner)?
    let events: JobEvents
    /// Checkpoints loaded on the other workers (given a worker id), from the pool.
    let loadedElsewhere: @Sendable (String) -> [String]
    let logger: Logger
    /// The jobs this worker holds (for heartbeats, interrupts and shutdown) and how many of them
    /// still occupy a backend slot (see `Slots`).
    private let running = NIOLockedValueBox(Slots())
    private let progressByJob = NIOLockedValueBox<[String: Double]>([:])
    private let loaded = NIOLockedValueBox<String?>(nil)
    private let stopping = ManagedAtomic(false)
    /// The last claim got every job it asked for: the queue is deep.
    private let queueDeep = ManagedAtomic(false)
    private let wake = WakeSignal()
    /// Calls of `notify` (jobs enqueued), counted so a claim in flight can tell it may have
    /// missed them (see `claim`).
    private let notifications = ManagedAtomic(0)

    package init(
        worker: GPUWorker,
        backend: any GenerationBackend,
        store: JobStore,
        images: ImageStore,
        settings: QueueSettings,
        provisioner: (any ModelProvisioner)? = nil,
        events: JobEvents = JobEvents(),
        loadedElsewhere: @escaping @Sendable (String) -> [String] = { _ in [] },
        logger: Logger
    ) {
        self.loadedElsewhere = loadedElsewhere
        self.worker = worker
        self.backend = backend
        self.store = store
        self.images = images
        self.settings = settings
        self.provisioner = provisioner
        self.events = events
        var logger = logger
        logger[metadataKey: "worker"] = .string(worker.name)
        self.logger = logger
        loaded.withLockedValue { $0 = worker.loadedModel }
    }

    /// Called after jobs are enqueued, so they start without waiting for the next poll.
    package func notify() async {
        notifications.wrappingIncrement(ordering: .relaxed)
        wake.signal()
    }

    /// Stops a job this worker runs (after it was cancelled in the database).
    package func interrupt(_ id: String) {
        running.withLockedValue { $0.tasks[id] }?.cancel()
    }

    /// Progress (0…1) of a job running here, when the backend reports it.
    package func progress(of id: String) -> Double? {
        progressByJob.withLockedValue { $0[id] }
    }

    package var loadedModel: String? { loaded.withLockedValue { $0 } }

    package func run() async throws {
        if let model = try? await backend.loadedModel() { loaded.withLockedValue { $0 = model } }
        let heartbeat = Task { await self.heartbeatLoop() }
        defer { heartbeat.cancel() }
        // Claims run as child tasks (up to `claimsAtOnce`); the group waits for the ones in
        // flight at shutdown, so every job a claim returned is registered, and then given back.
        await withDiscardingTaskGroup { claims in
            await withTaskCancellationOrGracefulShutdownHandler {
                while !Task.isCancelled && !self.stopping.load(ordering: .relaxed) {
                    self.startClaims(in: &claims)
                    // PostgreSQL wakes workers by NOTIFY (see RunnerPool); polling is the safety net.
                    await self.wake.wait(
                        timeout: self.store.database.kind == .postgres ? self.settings.listenPollInterval : self.settings.pollInterval
                    )
                }
            } onCancelOrGracefulShutdown: {
                self.stopping.store(true, ordering: .relaxed)
                self.wake.signal()
            }
        }
        let tasks = running.withLockedValue { Array($0.tasks.values) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    var preferences: ClaimPreferences {
        ClaimPreferences(
            models: worker.models,
            loadedModel: loadedModel,
            loadedElsewhere: loadedElsewhere(worker.id),
            modelAware: settings.modelAware,
            maxWaitMillis: settings.maxWaitMillis
        )
    }

    /// Claims in flight at once. On PostgreSQL two: while one claim's statement runs, the jobs
    /// of the last one start and the next is sent, instead of the worker idling through each
    /// claim's round trip (with one at a time, a fast backend's end-to-end rate was bound by the
    /// claim loop: two mock workers of 128 slots ran about a fifth faster than one of 256).
    /// Concurrent claims take different rows (`SKIP LOCKED`). SQLite has one writer, so a second
    /// claim would only wait for the first.
    var claimsAtOnce: Int { store.database.kind == .postgres ? 2 : 1 }

    /// Starts claims while slots are free (each reserves the slots it asks for, so claims in
    /// flight never promise the same slot twice). The loop runs on every wake-up, twice per
    /// finished job, and most find no claim to start: the preferences (which ask the pool for
    /// the other workers' checkpoints) are only worked out for a claim that goes ahead.
    func startClaims(in claims: inout DiscardingTaskGroup) {
        while !stopping.load(ordering: .relaxed) {
            let deep = queueDeep.load(ordering: .relaxed)
            let grant = running.withLockedValue {
                $0.reserve(concurrency: worker.concurrency, window: ClaimPreferences.standardWindow, claimsAtOnce: claimsAtOnce, queueDeep: deep)
            }
            guard grant > 0 else { return }
            let preferences = self.preferences
            claims.addTask { await self.claim(grant, preferences: preferences) }
        }
    }

    /// One claim of up to `grant` jobs (slots reserved by `startClaims`); its jobs start at once.
    func claim(_ grant: Int, preferences: ClaimPreferences) async {
        let notified = notifications.load(ordering: .relaxed)
        var jobs: [Job] = []
        do {
            // In a task of its own, which the worker's cancellation (a worker stopped or changed)
            // does not reach: a claim that committed must hand its jobs over, to be given back
            // at once, rather than leave them leased to nobody until their leases expire.
            let (store, holder, workerID, leaseMillis) = (store, holder, worker.id, settings.leaseMillis)
            jobs = try await Task {
                try await store.claim(
                    limit: grant,
                    holder: holder,
                    workerID: workerID,
                    preferences: preferences,
                    leaseMillis: leaseMillis,
                    now: Timestamp.millis(Date())
                )
            }.value
            queueDeep.store(jobs.count == grant, ordering: .relaxed)
        } catch {
            logger.error("claiming jobs failed", metadata: ["error": "\(error)"])
        }
        // Assume the job's checkpoint is what the backend will hold, so the next claim already
        // prefers the same one.
        if let model = jobs.last?.params.model { loaded.withLockedValue { $0 = model } }
        running.withLockedValue { slots in
            slots.claimed(granted: grant, jobs: jobs.count)
            // Registered under the lock the task's own clean-up takes, so a job that ends at
            // once cannot be removed before it was added (which would leak its slot).
            for job in jobs {
                // The same job again means its earlier attempt here lost its lease (reaped while
                // the database was out of reach) and the job was queued again: that attempt is
                // stale. It is stopped, and its writes name its own attempt, so they change nothing.
                slots.tasks[job.id]?.cancel()
                slots.attempts[job.id] = job.attempt
                slots.tasks[job.id] = Task { await self.execute(job) }
            }
        }
        // A claim that found jobs may have left more: look again. An empty one does not wake the
        // loop (an empty queue would be claimed from without pause), unless jobs were enqueued
        // while it ran: its snapshot may predate them, and the wake-up they sent found every free
        // slot reserved by this claim, so it started nothing.
        if !jobs.isEmpty || notifications.load(ordering: .relaxed) != notified { wake.signal() }
    }

    func execute(_ job: Job) async {
        let started = Timestamp.millis(Date())
        var holdsSlot = true
        /// The backend is done with the job: its slot takes the next one while this one's image
        /// is stored and its row written.
        func releaseSlot() {
            guard holdsSlot else { return }
            holdsSlot = false
            running.withLockedValue { $0.generating -= 1 }
            wake.signal()
        }
        defer {
            releaseSlot()
            let current = running.withLockedValue { slots in
                guard slots.attempts[job.id] == job.attempt else { return false }
                slots.tasks[job.id] = nil
                slots.attempts[job.id] = nil
                return true
            }
            if current { progressByJob.withLockedValue { $0[job.id] = nil } }
            wake.signal()
        }
        // A job reclaimed after its worker died has used an attempt each time.
        if job.attempt > job.maxAttempts {
            try? await store.fail(
                id: job.id,
                holder: holder,
                attempt: job.attempt,
                error: "gave up after \(job.maxAttempts) attempts: \(job.error ?? "the worker running it stopped")",
                retryAt: nil,
                now: started
            )
            await finished(job.id)
            return
        }
        let seed = job.params.seed ?? Self.seed(for: job)
        let jobID = job.id
        // This task is cancelled by `interrupt`, by the heartbeat loop (the job was cancelled or
        // its lease taken) and on shutdown; the backend stops its upstream work when it is.
        let outcome: Result<GeneratedImage, any Error>
        do {
            var prepared = PreparedModels(params: job.params)
            if let provisioner { prepared = try await provisioner.prepare(job.params, for: worker) }
            let backendJob = BackendJob(id: jobID, params: prepared.params, seed: seed, vae: prepared.vae)
            outcome = .success(
                try await backend.generate(backendJob) { [progressByJob] value in
                    progressByJob.withLockedValue { $0[jobID] = value }
                }
            )
        } catch {
            outcome = .failure(error)
        }
        releaseSlot()
        let now = Timestamp.millis(Date())
        switch outcome {
        case .success(let image):
            do {
                // Written now, made durable by the batch that records the success (one wait).
                let hash = try images.writeFile(image.png)
                let result = JobResult(
                    images: [hash],
                    seed: seed,
                    width: image.width,
                    height: image.height,
                    model: job.params.model,
                    backend: backend.name,
                    queue_ms: max(0, started - job.createdAt),
                    run_ms: now - started
                )
                try await store.succeed(id: job.id, holder: holder, attempt: job.attempt, result: result, imagesToSync: images, now: now)
            } catch {
                logger.error("recording a finished job failed", metadata: ["error": "\(error)", "job_id": .string(job.id)])
            }
            await finished(job.id)
        case .failure(let error):
            if Task.isCancelled || error is CancellationError {
                // Shutdown: back to the queue. (A cancelled job's row is already final; the
                // conditional UPDATE leaves it alone.)
                try? await store.release(id: job.id, holder: holder, attempt: job.attempt, now: now)
                return
            }
            let retryable = (error as? BackendError)?.retryable ?? true
            let retryAt =
                retryable && job.attempt < job.maxAttempts ? now + Self.backoffMillis(attempt: job.attempt, base: settings.retryBaseMillis) : nil
            let message = error is BackendError ? "\(error)" : "\(backend.name): \(error)"
            try? await store.fail(id: job.id, holder: holder, attempt: job.attempt, error: message, retryAt: retryAt, now: now)
            logger.notice("job attempt failed", metadata: ["error": "\(message)", "retry": "\(retryAt != nil)", "job_id": .string(job.id)])
            if retryAt == nil { await finished(job.id) }
        }
    }

    /// Renews the leases of the jobs this worker runs in one statement, a third of a lease apart,
    /// and stops the ones it no longer holds (cancelled, or reaped after a stall).
    func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(settings.leaseMillis / 3)))
            let ids = running.withLockedValue { Array($0.tasks.keys) }
            guard !Task.isCancelled, !ids.isEmpty else { continue }
            do {
                let held = try await store.heartbeat(holder: holder, ids: ids, leaseMillis: settings.leaseMillis, now: Timestamp.millis(Date()))
                for id in ids where !held.contains(id) { interrupt(id) }
            } catch {
                logger.error("renewing job leases failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Announces a job this worker ended. A cancelled one is announced by whoever cancelled it
    /// (`GenerationService.cancel`), not again here when the worker's own write found it cancelled.
    func finished(_ id: String) async {
        guard events.hasListener, let job = try? await store.find(id: id), job.state == .success || job.state == .failed else { return }
        events.finished(job)
    }

    /// base, 2×base, 4×base… (at most 60 s), ±25 % jitter so retries of many jobs do not arrive together.
    static func backoffMillis(attempt: Int, base: Int64 = 1_000) -> Int64 {
        let delay = min(60_000.0, Double(base) * pow(2.0, Double(max(0, attempt - 1))))
        return Int64(delay * Double.random(in: 0.75...1.25))
    }

    /// A seed derived from the job id, so a job without one still has a stable, reported seed.
    static func seed(for job: Job) -> Int64 {
        Int64(job.id.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 } & 0x7FFF_FFFF)
    }
}

/// A worker's jobs and its backend's slots. A job occupies a slot while the backend works on it;
/// storing its image and writing its row come after, on our side, and the backend starts the next
/// job meanwhile (a GPU would otherwise idle through our disk and database commits). Jobs past
/// their slot are bounded too (`finishing`), so a backend faster than the store cannot pile up
/// images in memory.
struct Slots: Sendable {
    var tasks: [String: Task<Void, Never>] = [:]
    /// The attempt each job in `tasks` runs: a task of an earlier attempt (see `claim`) does not
    /// remove the current one's entry when it ends.
    var attempts: [String: Int] = [:]
    /// Jobs the backend has not finished with.
    var generating = 0
    /// Slots reserved by claims in flight, and how many claims are in flight.
    var reserved = 0
    var claims = 0

    /// Jobs that may be past their slot at once: as many as the slots, at least 8.
    static func finishing(concurrency: Int) -> Int { max(8, concurrency) }

    /// How many more jobs may be claimed now.
    func free(concurrency: Int) -> Int {
        min(concurrency - generating, concurrency + Self.finishing(concurrency: concurrency) - tasks.count) - reserved
    }

    /// Reserves slots for one more claim and returns how many (0: no claim now): at most a claim
    /// window, and with a deep queue at least a quarter of the slots, so one statement serves
    /// many jobs (they were waiting anyway) rather than one per finished job. With a shallow
    /// queue every free slot is filled at once.
    mutating func reserve(concurrency: Int, window: Int, claimsAtOnce: Int, queueDeep: Bool) -> Int {
        let free = free(concurrency: concurrency)
        guard claims < claimsAtOnce, free > 0 else { return 0 }
        if queueDeep && tasks.count + reserved > 0 && free < max(1, concurrency / 4) { return 0 }
        let grant = min(free, window)
        claims += 1
        reserved += grant
        return grant
    }

    /// A claim that reserved `granted` slots returned `jobs` jobs (its caller registers them).
    mutating func claimed(granted: Int, jobs: Int) {
        claims -= 1
        reserved -= granted
        generating += jobs
    }
}
