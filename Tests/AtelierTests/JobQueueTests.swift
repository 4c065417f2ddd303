import AtelierApp
import Atomics
import CompressNIO
import Core
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Storage
import Testing

@testable import Generation

@Suite("The job queue under concurrency", .timeLimit(.minutes(5)))
struct JobQueueTests {
    /// A migrated database and two more pools on it, as two processes have: neither sees the
    /// other's uncommitted rows.
    static func withTwoProcesses(_ body: @Sendable (_ setup: Database, _ processes: [Database]) async throws -> Void) async throws {
        let settings = try TestDatabase.settings(dataDir: TestDatabase.temporaryDirectory())
        let config = try AppConfig.from(settings)
        let logger = Logger(label: "test")
        let setup = try Database.open(config.database, logger: logger)
        let result = await Result { () -> Void in
            try await Migrator(database: setup, logger: logger).migrate(AllMigrations.list)
            let processes = try (0..<2).map { _ in try Database.open(config.database, poolSize: 2, logger: logger) }
            let outcome = await Result { try await body(setup, processes) }
            for process in processes { await process.close() }
            try outcome.get()
        }
        await setup.close()
        await TestDatabase.cleanUp(settings)
        try result.get()
    }

    @Test("two claimers (separate pools, as two processes) never claim the same job")
    func noDoubleClaim() async throws {
        try await Self.withTwoProcesses { setup, processes in
            let now = Timestamp.millis(Date())
            let jobs = (0..<60).map { index in
                Job.pending(id: "gen_\(String(format: "%03d", index))", owner: "o", params: GenerationParams(prompt: "p\(index)"), now: now)
            }
            _ = try await JobStore(database: setup).insert(jobs)
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for process in processes {
                    group.addTask {
                        let store = JobStore(database: process)
                        var ids: [String] = []
                        while let job = try await store.claimNow(holder: ID.make("wrk")) { ids.append(job.id) }
                        return ids
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            let all = claimed.flatMap { $0 }
            #expect(all.count == 60)
            #expect(Set(all).count == 60)
        }
    }

    @Test("a waiting job knows how many are ahead of it, in the order workers claim them, from two owners")
    func placeInLine() async throws {
        try await Self.withTwoProcesses { setup, _ in
            let store = JobStore(database: setup)
            let now = Timestamp.millis(Date())
            var jobs: [Job] = []
            for index in 0..<6 {
                // Two owners in turns: fair keys interleave them.
                jobs += try await store.insert([
                    Job.pending(owner: index % 2 == 0 ? "a" : "b", params: GenerationParams(prompt: "p\(index)"), now: now)
                ])
            }
            var waiting = jobs
            while !waiting.isEmpty {
                var places: [String: Int] = [:]
                for job in waiting { places[job.id] = try await store.ahead(of: try #require(try await store.find(id: job.id))) }
                #expect(Set(places.values) == Set(0..<waiting.count), "places 0..<\(waiting.count): \(places)")
                let next = try #require(try await store.claimNow(holder: "wrk_test"))
                #expect(places[next.id] == 0, "the job claimed next had nobody ahead")
                waiting.removeAll { $0.id == next.id }
            }
            #expect(try await store.ahead(of: try #require(try await store.find(id: jobs[0].id))) == 0, "a started job waits for nobody")
        }
    }

    @Test("the same idempotency key sent to two processes at once makes one job, and neither caller gets an error")
    func keyRaceBetweenProcesses() async throws {
        try await Self.withTwoProcesses { setup, processes in
            let stores = processes.map { JobStore(database: $0) }
            let now = Timestamp.millis(Date())
            for round in 0..<20 {
                let ids = try await withThrowingTaskGroup(of: String.self) { group in
                    for store in stores {
                        group.addTask {
                            try await store.insert([
                                Job.pending(owner: "k", params: GenerationParams(prompt: "p"), idempotencyKey: "key-\(round)", now: now)
                            ])[0].id
                        }
                    }
                    return try await group.reduce(into: Set<String>()) { $0.insert($1) }
                }
                #expect(ids.count == 1, "round \(round)")
            }
            let count = try await setup.sql.raw("SELECT COUNT(*) AS n FROM jobs").first()?.decode(column: "n", as: Int.self)
            #expect(count == 20)
        }
    }
}

extension JobQueueTests {
    /// A fresh folder for a test's images (the caller removes it).
    static func imageFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("atelier-images-\(UUID().uuidString)").path
    }

    /// A worker of `concurrency` slots on `store` with `backend`, polling often.
    static func worker(_ store: JobStore, _ backend: CountingBackend, images root: String, concurrency: Int) -> JobRunner {
        JobRunner(
            worker: GPUWorker(name: "counting", backend: .mock, endpoint: "", concurrency: concurrency, now: Timestamp.millis(Date())),
            backend: backend,
            store: store,
            images: ImageStore(root: root),
            settings: QueueSettings(pollInterval: .milliseconds(20)),
            logger: Logger(label: "test")
        )
    }

    @Test("a worker with claims in flight runs every job once and never more at once than its slots")
    func workerRunsEachJobOnce() async throws {
        try await SchedulingTests.withStore { store in
            let now = Timestamp.millis(Date())
            let ids = try await store.insert((0..<240).map { Job.pending(owner: "o\($0 % 3)", params: GenerationParams(prompt: "p\($0)"), now: now) })
                .map(\.id)
            let root = Self.imageFolder()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let backend = CountingBackend()
            // Eight slots and claims of at most eight: on PostgreSQL two claims are in flight at once.
            let worker = Self.worker(store, backend, images: root, concurrency: 8)
            let running = Task { try await worker.run() }
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let stats = try await store.stats(now: Timestamp.millis(Date()))
                if stats.pending + stats.started + stats.scheduled == 0 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            running.cancel()
            _ = await running.result
            let jobs = try await ids.asyncMap { try await store.find(id: $0) }
            #expect(jobs.allSatisfy { $0?.state == .success && $0?.attempt == 1 })
            let counts = backend.counts.withLockedValue { $0 }
            #expect(counts.most <= 8)
            #expect(counts.most > 1)
            #expect(counts.calls.count == ids.count && counts.calls.values.allSatisfy { $0 == 1 })
        }
    }

    @Test("a worker stopped while its claims are in flight leaves no job running: each is done or back in the queue, its attempt uncounted")
    func stoppedWorkerGivesJobsBack() async throws {
        try await SchedulingTests.withStore { store in
            let now = Timestamp.millis(Date())
            let ids = try await store.insert((0..<400).map { Job.pending(owner: "o", params: GenerationParams(prompt: "p\($0)"), now: now) }).map(
                \.id
            )
            let root = Self.imageFolder()
            defer { try? FileManager.default.removeItem(atPath: root) }
            func succeeded() async throws -> Int {
                try await store.database.sql.raw("SELECT COUNT(*) AS n FROM jobs WHERE state = 'success'").first()?.decode(column: "n", as: Int.self)
                    ?? 0
            }
            // Stopped at once, as soon as the backend has a job, and once a job has succeeded.
            for moment in ["at once", "rendering", "after a success"] {
                let backend = CountingBackend(delay: .milliseconds(20))
                let worker = Self.worker(store, backend, images: root, concurrency: 16)
                let before = try await succeeded()
                let running = Task { try await worker.run() }
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline {
                    if moment == "rendering", backend.counts.withLockedValue({ !$0.calls.isEmpty }) { break }
                    if moment == "after a success", try await succeeded() > before { break }
                    if moment == "at once" { break }
                    try await Task.sleep(for: .milliseconds(1))
                }
                running.cancel()
                _ = await running.result
                let stats = try await store.stats(now: Timestamp.millis(Date()))
                #expect(stats.started == 0, "stopped \(moment)")
            }
            let jobs = try await ids.asyncMap { try await store.find(id: $0) }
            #expect(jobs.allSatisfy { ($0?.state == .success && $0?.attempt == 1) || ($0?.state == .pending && $0?.attempt == 0) })
            // Some ran and some were given back, so both paths were taken.
            #expect(jobs.contains { $0?.state == .success } && jobs.contains { $0?.state == .pending })
        }
    }

    @Test("heartbeats renew only the jobs the worker runs: a leased job it lost track of expires and is reaped")
    func heartbeatRenewsTrackedJobsOnly() async throws {
        try await SchedulingTests.withStore { store in
            let now = Timestamp.millis(Date())
            _ = try await store.insert((0..<2).map { Job.pending(owner: "alice", params: GenerationParams(prompt: "h\($0)"), now: now) })
            let claimed = try await store.claim(limit: 2, holder: "w", preferences: .fifo, leaseMillis: 1_000, now: now)
            #expect(claimed.count == 2)
            let (tracked, lost) = (claimed[0].id, claimed[1].id)
            // Later, the worker still runs `tracked`; `lost` had its outcome write fail.
            let held = try await store.heartbeat(holder: "w", ids: [tracked], leaseMillis: 30_000, now: now + 900)
            #expect(held == [tracked])
            #expect(try await store.reapExpired(now: now + 1_500) == 1)
            #expect(try await store.find(id: lost)?.state == .pending)
            #expect(try await store.find(id: tracked)?.state == .started)
        }
    }

    @Test("a stale attempt's writes change nothing once its job was claimed again, even by the same worker")
    func staleAttemptWritesNothing() async throws {
        try await SchedulingTests.withStore { store in
            let now = Timestamp.millis(Date())
            _ = try await store.insert([Job.pending(owner: "alice", params: GenerationParams(prompt: "twice"), now: now)])
            let first = try #require(try await store.claim(limit: 1, holder: "w", preferences: .fifo, leaseMillis: 1_000, now: now).first)
            // The database was out of reach past the lease: the job is reaped and claimed again.
            #expect(try await store.reapExpired(now: now + 2_000) == 1)
            let second = try #require(try await store.claim(limit: 1, holder: "w", preferences: .fifo, leaseMillis: 30_000, now: now + 2_000).first)
            #expect(second.id == first.id && second.attempt == first.attempt + 1)
            // The first attempt fails (a retry), then is given back: neither touches the second.
            try await store.fail(id: first.id, holder: "w", attempt: first.attempt, error: "stale", retryAt: now, now: now + 2_100)
            try await store.release(id: first.id, holder: "w", attempt: first.attempt, now: now + 2_200)
            let running = try await store.find(id: first.id)
            #expect(running?.state == .started && running?.attempt == second.attempt)
            let result = JobResult(images: [], seed: 1, width: 64, height: 64, model: nil, backend: "mock", queue_ms: 0, run_ms: 0)
            let folder = JobQueueTests.imageFolder()
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let images = ImageStore(root: folder)
            try await store.succeed(id: first.id, holder: "w", attempt: second.attempt, result: result, imagesToSync: images, now: now + 2_300)
            #expect(try await store.find(id: first.id)?.state == .success)
        }
    }
}
