import Atomics
import Core
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs queued generations on a backend: claims jobs while it has free slots, heartbeats their
/// lease, stores the image, and records success, a retry (with exponential backoff and jitter) or
/// failure. A job whose process died is claimed again once its lease expires. On graceful
/// shutdown running jobs go back to the queue uncounted.
public final class JobWorker: Service, Sendable {
    public let store: JobStore
    public let backend: any GenerationBackend
    public let images: ImageStore
    let holder = ID.make("wrk")
    let leaseMillis: Int64
    let pollInterval: Duration
    let logger: Logger
    private let running = NIOLockedValueBox<[String: Task<Void, Never>]>([:])
    private let stopping = ManagedAtomic(false)
    private let wake = WakeSignal()

    public init(store: JobStore, backend: any GenerationBackend, images: ImageStore, leaseMillis: Int64 = 30_000,
                pollInterval: Duration = .milliseconds(250), logger: Logger) {
        self.store = store
        self.backend = backend
        self.images = images
        self.leaseMillis = leaseMillis
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Called after jobs are enqueued, so they start without waiting for the next poll.
    public func notify() async { await wake.signal() }

    /// Stops a job this process runs (after it was cancelled in the database).
    public func interrupt(_ id: String) {
        running.withLockedValue { $0[id] }?.cancel()
    }

    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            while !Task.isCancelled && !self.stopping.load(ordering: .relaxed) {
                await self.claimAvailable()
                await self.wake.wait(timeout: self.pollInterval)
            }
        } onCancelOrGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            Task { await self.wake.signal() }
        }
        let tasks = running.withLockedValue { Array($0.values) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    func claimAvailable() async {
        while running.withLockedValue({ $0.count }) < backend.concurrency && !stopping.load(ordering: .relaxed) {
            let job: Job?
            do {
                job = try await store.claim(holder: holder, leaseMillis: leaseMillis, now: Timestamp.millis(Date()))
            } catch {
                logger.error("claiming a job failed", metadata: ["error": "\(error)"])
                return
            }
            guard let job else { return }
            let task = Task { await self.execute(job) }
            running.withLockedValue { $0[job.id] = task }
        }
    }

    func execute(_ job: Job) async {
        var logger = self.logger
        logger[metadataKey: "job_id"] = .string(job.id)
        let started = Timestamp.millis(Date())
        defer {
            running.withLockedValue { $0[job.id] = nil }
            Task { await wake.signal() }
        }
        // A job claimed again after its worker died has used an attempt each time.
        if job.attempt > job.maxAttempts {
            try? await store.fail(id: job.id, holder: holder, error: "gave up after \(job.maxAttempts) attempts (the worker running it stopped)",
                                  retryAt: nil, now: started)
            return
        }
        let seed = job.params.seed ?? Self.seed(for: job)
        let work = Task { try await backend.generate(job.params, seed: seed) }
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(leaseMillis / 3)))
                if Task.isCancelled { break }
                let state = try? await store.heartbeat(id: job.id, holder: holder, leaseMillis: leaseMillis, now: Timestamp.millis(Date()))
                if state != .started { work.cancel() }
            }
        }
        let outcome = await withTaskCancellationHandler { await work.result } onCancel: { work.cancel() }
        heartbeat.cancel()
        let now = Timestamp.millis(Date())
        switch outcome {
        case .success(let image):
            do {
                let hash = try images.put(image.png)
                let result = JobResult(images: [hash], seed: seed, width: image.width, height: image.height,
                                       model: job.params.model, backend: backend.name,
                                       queue_ms: max(0, started - job.createdAt), run_ms: now - started)
                try await store.succeed(id: job.id, holder: holder, result: result, now: now)
            } catch {
                logger.error("recording a finished job failed", metadata: ["error": "\(error)"])
            }
        case .failure(let error):
            if Task.isCancelled || error is CancellationError {
                // Shutdown: back to the queue. (A cancelled job's row is already final; the
                // conditional UPDATE leaves it alone.)
                try? await store.release(id: job.id, holder: holder, now: now)
                return
            }
            let retryable = (error as? BackendError)?.retryable ?? true
            let retryAt = retryable && job.attempt < job.maxAttempts ? now + Self.backoffMillis(attempt: job.attempt) : nil
            try? await store.fail(id: job.id, holder: holder, error: "\(error)", retryAt: retryAt, now: now)
            logger.notice("job attempt failed", metadata: ["error": "\(error)", "retry": "\(retryAt != nil)"])
        }
    }

    /// 1 s, 2 s, 4 s… (at most 60 s), ±25 % jitter so retries of many jobs do not arrive together.
    static func backoffMillis(attempt: Int) -> Int64 {
        let base = min(60_000.0, 1_000 * pow(2.0, Double(max(0, attempt - 1))))
        return Int64(base * Double.random(in: 0.75...1.25))
    }

    /// A seed derived from the job id, so a job without one still has a stable, reported seed.
    static func seed(for job: Job) -> Int64 {
        Int64(job.id.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 } & 0x7FFF_FFFF)
    }
}
