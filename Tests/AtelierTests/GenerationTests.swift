import Atomics
import AtelierApp
import CompressNIO
import Core
import Crypto
import Foundation
@testable import Generation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Storage
import Testing

@Suite("Generation queue, mock backend and seed 001's RunPod routes")
struct GenerationTests {
    static func waitFor(_ app: TestApp, _ id: String, token: String? = nil, states: Set<String> = ["success", "failed", "cancelled"]) async throws -> [String: Any] {
        for _ in 0..<400 {
            let status = try await app.request(.get, "/api/v1/runpod/status/\(id)", token: token)
            if states.contains(status.json["status"] as? String ?? "") { return status.json }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("generation \(id) did not reach \(states)")
        return [:]
    }

    @Test("seed 001: generate answers with a task id; status reaches success with an image URL that serves a PNG")
    func generateAndStatus() async throws {
        try await TestApp.run { app in
            let started = try await app.request(.post, "/api/v1/runpod/generate", json: """
                {"prompt": "beautiful anime girl with blue hair, detailed eyes", "width": 832, "height": 1216, "steps": 30, "use_enhanced_prompts": true}
                """)
            #expect(started.status == .ok)
            #expect(started.json["status"] as? String == "pending")
            #expect((started.json["message"] as? String)?.contains("/status/") == true)
            #expect(started.headers[.contentType] == "application/json; charset=utf-8")
            let id = try #require(started.json["task_id"] as? String)
            let done = try await Self.waitFor(app, id)
            #expect(done["status"] as? String == "success")
            let result = try #require(done["result"] as? [String: Any])
            #expect(result["success"] as? Bool == true)
            #expect(result["width"] as? Int == 832 && result["height"] as? Int == 1216 && result["steps"] as? Int == 30)
            #expect(result["prompt"] as? String == "beautiful anime girl with blue hair, detailed eyes")
            let url = try #require(result["image_url"] as? String)
            let image = try await app.request(.get, url)
            #expect(image.status == .ok)
            #expect(image.headers[.contentType] == "image/png")
            #expect(Array(Data(buffer: image.body).prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        }
    }

    @Test("the same prompt and seed give the same image; batches make one task per prompt")
    func deterministicAndBatch() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "0"]) { app in
            var urls: [String] = []
            for _ in 0..<2 {
                let started = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "a red fox", "seed": 42}"#)
                let done = try await Self.waitFor(app, try #require(started.json["task_id"] as? String))
                urls.append(try #require((done["result"] as? [String: Any])?["image_url"] as? String))
            }
            #expect(urls[0] == urls[1])
            let batch = try await app.request(.post, "/api/v1/runpod/generate/batch",
                                              json: #"{"prompts": ["anime girl with blue hair", "anime girl with red hair", "anime girl with green hair"], "width": 832, "height": 1216, "steps": 30}"#)
            let ids = try #require(batch.json["task_ids"] as? [String])
            #expect(ids.count == 3)
            #expect(batch.json["count"] as? Int == 3 && batch.json["status"] as? String == "pending")
            #expect((batch.json["message"] as? String)?.contains("/status/") == true)
            #expect(batch.headers[.contentType] == "application/json; charset=utf-8")
            var images = Set<String>()
            for id in ids {
                let done = try await Self.waitFor(app, id)
                #expect(done["status"] as? String == "success")
                images.insert((done["result"] as? [String: Any])?["image_url"] as? String ?? "")
            }
            #expect(images.count == 3)
        }
    }

    @Test("bad input names the field; the hourly limit answers 429 with Retry-After")
    func validationAndLimit() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "2"]) { app in
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "  "}"#).detail.hasPrefix("prompt"))
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x", "width": 833}"#).detail.hasPrefix("width"))
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x", "steps": 0}"#).detail.hasPrefix("steps"))
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"width": 512}"#).status == .unprocessableContent)
            let emptyBatch = try await app.request(.post, "/api/v1/runpod/generate/batch", json: #"{"prompts": ["ok", ""]}"#)
            #expect(emptyBatch.detail.hasPrefix("prompts[1]"))
            // Values PostgreSQL cannot store (NUL) or index (a key of kilobytes) are named, never
            // a 500, on every generation route; the path's NUL is caught under the routes.
            let nul = "\\u0000"
            for (path, body, field) in [("/api/v1/runpod/generate", #"{"prompt": "x", "model": "a\#(nul)"}"#, "model"),
                                        ("/api/v1/generations", #"{"prompt": "x", "loras": [{"name": "l\#(nul)"}]}"#, "loras[0].name"),
                                        ("/generate", #"{"prompt": "x", "model": "a\#(nul)"}"#, "model")] {
                let refused = try await app.request(.post, path, json: body)
                #expect(refused.status == .unprocessableContent && refused.detail.hasPrefix(field), "\(path): \(refused.detail)")
            }
            let longKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: String(repeating: "k", count: 3000)]
            let refusedKey = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x"}"#, headers: longKey)
            #expect(refusedKey.status == .unprocessableContent && refusedKey.detail.hasPrefix("Idempotency-Key"))
            #expect(try await app.request(.get, "/api/v1/runpod/status/gen_%00").status.code < 500)
            for _ in 0..<2 {
                #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "one"}"#).status == .ok)
            }
            let limited = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "three"}"#)
            #expect(limited.status == .tooManyRequests)
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter > 3000 && retryAfter <= 3601)
        }
    }

    @Test("a burst of concurrent requests cannot overshoot the hourly limit; a replayed idempotency key still answers")
    func limitUnderBurst() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "5"]) { app in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "first"]
            let keyed = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "keyed"}"#, headers: key)
            #expect(keyed.status == .ok)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<20 {
                    group.addTask { try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "burst \#(index)"}"#).status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 4)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 16)
            let replay = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "keyed"}"#, headers: key)
            #expect(replay.status == .ok)
            #expect(replay.json["task_id"] as? String == keyed.json["task_id"] as? String)
            let batch = try await app.request(.post, "/api/v1/runpod/generate/batch", json: #"{"prompts": ["a", "b", "c", "d", "e", "f"]}"#)
            #expect(batch.status == .tooManyRequests)
            #expect(batch.detail.contains("asks for 6"))
        }
    }

    @Test("with ATELIER_AUTH_REQUIRED the routes need credentials; jobs are their owner's")
    func authAndOwnership() async throws {
        try await TestApp.run(["ATELIER_AUTH_REQUIRED": "true"]) { app in
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x"}"#).status == .unauthorized)
            let (_, alice) = try await app.makeUser("alice")
            let (_, bob) = try await app.makeUser("bob")
            let started = try await app.request(.post, "/api/v1/runpod/generate", token: alice, json: #"{"prompt": "alice's"}"#)
            let id = try #require(started.json["task_id"] as? String)
            #expect(try await app.request(.get, "/api/v1/runpod/status/\(id)", token: bob).status == .notFound)
            #expect(try await app.request(.delete, "/api/v1/runpod/cancel/\(id)", token: bob).status == .notFound)
            #expect(try await app.request(.get, "/api/v1/generations/\(id)", token: alice).status == .ok)
            let admin = try await app.login()
            #expect(try await app.request(.get, "/api/v1/generations/\(id)", token: admin).status == .ok)
            // A guest account reads but neither starts nor cancels generations, on any route.
            let (_, guest) = try await app.makeUser("visitor", role: .guest)
            for (method, path, body) in [(HTTPRequest.Method.post, "/api/v1/runpod/generate", #"{"prompt": "x"}"#),
                                         (.post, "/api/v1/runpod/generate/batch", #"{"prompts": ["x"]}"#),
                                         (.post, "/api/v1/generations", #"{"prompt": "x"}"#),
                                         (.post, "/generate", #"{"prompt": "x", "model": "m"}"#),
                                         (.delete, "/api/v1/runpod/cancel/\(id)", nil), (.delete, "/api/v1/generations/\(id)", nil)] {
                let refused = try await app.request(method, path, token: guest, json: body)
                #expect(refused.status == .forbidden, "\(method) \(path): \(refused.status)")
            }
            #expect(try await app.request(.get, "/api/v1/generations", token: guest).status == .ok)
        }
    }

    @Test("cancel works while pending or running, and a second cancel is 409")
    func cancel() async throws {
        try await TestApp.run(["ATELIER_MOCK_DELAY_MS": "3000"]) { app in
            let started = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "slow"}"#)
            let id = try #require(started.json["task_id"] as? String)
            _ = try await Self.waitFor(app, id, states: ["started"])
            let cancelled = try await app.request(.delete, "/api/v1/runpod/cancel/\(id)")
            #expect(cancelled.json["status"] as? String == "cancelled")
            #expect(try await app.request(.delete, "/api/v1/runpod/cancel/\(id)").status == .conflict)
            let stats = try await app.request(.get, "/api/v1/runpod/queue/stats")
            #expect(stats.json["active_tasks"] as? Int == 0)
            #expect(stats.json["workers"] as? [String] == ["mock@mock"])
            #expect(stats.json["reserved_tasks"] as? Int == 0)
            #expect(stats.json["scheduled_tasks"] as? Int == 0)
            #expect(try await app.request(.post, "/api/v1/runpod/test").json["success"] as? Bool == true)
        }
    }

    @Test("native API: 202, Idempotency-Key, events end with done")
    func nativeAPI() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "gen-1"]
            let first = try await app.request(.post, "/api/v1/generations", token: token, json: #"{"prompt": "a cat"}"#, headers: key)
            #expect(first.status == .accepted)
            let again = try await app.request(.post, "/api/v1/generations", token: token, json: #"{"prompt": "a cat"}"#, headers: key)
            let id = try #require(first.json["id"] as? String)
            #expect(again.json["id"] as? String == id)
            // An empty key, which some clients send when none is set, is no key.
            let unkeyed: HTTPFields = [HTTPField.Name("Idempotency-Key")!: ""]
            let plain = try await app.request(.post, "/api/v1/generations", token: token, json: #"{"prompt": "a cat"}"#, headers: unkeyed)
            #expect(plain.status == .accepted && plain.json["id"] as? String != id)
            let events = try await app.request(.get, "/api/v1/generations/\(id)/events", token: token)
            #expect(String(buffer: events.body).contains("event: done"))
            let job = try await app.request(.get, "/api/v1/generations/\(id)", token: token)
            #expect(job.json["status"] as? String == "success")
            #expect(((job.json["result"] as? [String: Any])?["image_urls"] as? [String])?.count == 1)
        }
    }

    @Test("a job whose worker died runs again once its lease expires")
    func reclaimsExpiredLease() async throws {
        try await TestApp.run { app in
            let now = Timestamp.millis(Date())
            let params = String(decoding: try JSONEncoder().encode(GenerationParams(prompt: "orphan")), as: UTF8.self)
            try await app.runtime.database.sql.raw("""
                INSERT INTO jobs (id, owner_id, kind, params, state, priority, attempt, max_attempts, run_after, lease_holder, lease_expires_at, created_at, updated_at, started_at)
                VALUES ('gen_orphan', 'guest:unknown', 'txt2img', \(bind: params), 'started', 0, 1, 3, \(bind: now), 'wrk_dead', \(bind: now - 1000), \(bind: now), \(bind: now), \(bind: now))
                """).run()
            _ = try await app.runtime.generation.store.reapForTest()
            await app.runtime.generation.pool.notify()
            let done = try await Self.waitFor(app, "gen_orphan")
            #expect(done["status"] as? String == "success")
            let job = try await app.runtime.generation.store.find(id: "gen_orphan")
            #expect(job?.attempt == 2)
        }
    }
}

@Suite("The job queue under concurrency")
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
                        while let job = try await store.claimForTest(holder: ID.make("wrk")) { ids.append(job.id) }
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

    @Test("the same idempotency key sent to two processes at once makes one job, and neither caller gets an error")
    func keyRaceBetweenProcesses() async throws {
        try await Self.withTwoProcesses { setup, processes in
            let stores = processes.map { JobStore(database: $0) }
            let now = Timestamp.millis(Date())
            for round in 0..<20 {
                let ids = try await withThrowingTaskGroup(of: String.self) { group in
                    for store in stores {
                        group.addTask {
                            try await store.insert([Job.pending(owner: "k", params: GenerationParams(prompt: "p"), idempotencyKey: "key-\(round)", now: now)])[0].id
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

/// A backend that renders like the mock after a short pause and counts what it was given: how
/// many renders ran at once and how often each job came.
struct CountingBackend: GenerationBackend {
    struct Counts {
        var now = 0
        var most = 0
        var calls: [String: Int] = [:]
    }

    let counts = NIOLockedValueBox(Counts())
    var delay: Duration = .milliseconds(3)
    var name: String { "counting@test" }

    func loadedModel() async throws -> String? { nil }

    func check() async throws {}

    func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
        counts.withLockedValue {
            $0.now += 1
            $0.most = max($0.most, $0.now)
            $0.calls[job.id, default: 0] += 1
        }
        defer { counts.withLockedValue { $0.now -= 1 } }
        try await Task.sleep(for: delay)
        return MockBackend.render(job.params, seed: job.seed)
    }
}

extension JobQueueTests {
    /// A fresh folder for a test's images (the caller removes it).
    static func imageFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("atelier-images-\(UUID().uuidString)").path
    }

    /// A worker of `concurrency` slots on `store` with `backend`, polling often.
    static func worker(_ store: JobStore, _ backend: CountingBackend, images root: String, concurrency: Int) -> JobWorker {
        JobWorker(worker: Worker(name: "counting", backend: .mock, endpoint: "", concurrency: concurrency, now: Timestamp.millis(Date())),
                  backend: backend, store: store, images: ImageStore(root: root), settings: QueueSettings(pollInterval: .milliseconds(20)),
                  logger: Logger(label: "test"))
    }

    @Test("a worker with claims in flight runs every job once and never more at once than its slots")
    func workerRunsEachJobOnce() async throws {
        try await SchedulingTests.withStore { store in
            let now = Timestamp.millis(Date())
            let ids = try await store.insert((0..<240).map { Job.pending(owner: "o\($0 % 3)", params: GenerationParams(prompt: "p\($0)"), now: now) }).map(\.id)
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
            let ids = try await store.insert((0..<400).map { Job.pending(owner: "o", params: GenerationParams(prompt: "p\($0)"), now: now) }).map(\.id)
            let root = Self.imageFolder()
            defer { try? FileManager.default.removeItem(atPath: root) }
            func succeeded() async throws -> Int {
                try await store.database.sql.raw("SELECT COUNT(*) AS n FROM jobs WHERE state = 'success'").first()?.decode(column: "n", as: Int.self) ?? 0
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

extension Array where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

@Suite("Enqueueing under concurrency")
struct EnqueueConcurrencyTests {
    @Test("concurrent enqueues (written together) all land; the same idempotency key in one burst makes one job")
    func groupCommit() async throws {
        try await SchedulingTests.withStore { store in
            let now = Timestamp.millis(Date())
            let distinct = try await withThrowingTaskGroup(of: [Job].self) { group in
                for index in 0..<200 {
                    group.addTask { try await store.insert([Job.pending(owner: "o\(index % 7)", params: GenerationParams(prompt: "p\(index)"), now: now)]) }
                }
                return try await group.reduce(into: [Job]()) { $0 += $1 }
            }
            #expect(Set(distinct.map(\.id)).count == 200)
            let keyed = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await store.insert([Job.pending(owner: "k", params: GenerationParams(prompt: "same \(index)"), idempotencyKey: "retry-1", now: now)])[0].id
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(keyed.count == 1)
            var claimed = 0
            while try await store.claimForTest(holder: "w") != nil { claimed += 1 }
            #expect(claimed == 201)
        }
    }
}

@Suite("Scheduling: fairness between owners, worker models, checkpoint swaps")
struct SchedulingTests {
    static func withStore(_ body: (JobStore) async throws -> Void) async throws {
        let settings = try TestDatabase.settings(dataDir: TestDatabase.temporaryDirectory())
        let config = try AppConfig.from(settings)
        let logger = Logger(label: "test")
        let database = try Database.open(config.database, logger: logger)
        let result = await Result {
            try await Migrator(database: database, logger: logger).migrate(AllMigrations.list)
            try await body(JobStore(database: database))
        }
        await database.close()
        await TestDatabase.cleanUp(settings)
        try result.get()
    }

    @Test("a worker's slots: a job frees its slot when the backend is done with it; jobs past their slot are bounded")
    func workerSlots() {
        var slots = Slots()
        #expect(slots.free(concurrency: 2) == 2)
        for n in 0..<2 { slots.tasks["job-\(n)"] = Task {} }
        slots.generating = 2
        #expect(slots.free(concurrency: 2) == 0)
        // Both renders are done; their images and rows are still being written.
        slots.generating = 0
        #expect(slots.free(concurrency: 2) == 2)
        // At most max(8, concurrency) jobs past their slot: here 2 + 8 held in all.
        for n in 2..<10 { slots.tasks["job-\(n)"] = Task {} }
        #expect(slots.free(concurrency: 2) == 0)
        slots.tasks["job-0"] = nil
        #expect(slots.free(concurrency: 2) == 1)
        #expect(Slots.finishing(concurrency: 256) == 256)
    }

    @Test("claims in flight reserve their slots: two never promise the same slot, and a deep queue is claimed in batches")
    func workerClaimReservations() {
        var slots = Slots()
        // 256 slots, claims of at most 128 (the window), two in flight at once.
        #expect(slots.reserve(concurrency: 256, window: 128, claimsAtOnce: 2, queueDeep: true) == 128)
        #expect(slots.reserve(concurrency: 256, window: 128, claimsAtOnce: 2, queueDeep: true) == 128)
        #expect(slots.free(concurrency: 256) == 0)
        // A third claim waits for one of the two, even with slots free.
        slots.claimed(granted: 128, jobs: 0)
        slots.claims += 1
        #expect(slots.reserve(concurrency: 256, window: 128, claimsAtOnce: 2, queueDeep: true) == 0)
        slots.claims -= 1
        // The first claim got all 128 jobs: they occupy their slots.
        slots.claimed(granted: 128, jobs: 128)
        for n in 0..<128 { slots.tasks["job-\(n)"] = Task {} }
        #expect(slots.free(concurrency: 256) == 128)
        // 60 renders done: 60 slots free, fewer than a quarter of 256, so a deep queue waits for
        // more to free up; a shallow one is claimed from at once.
        slots.generating = 68
        #expect(slots.reserve(concurrency: 256, window: 128, claimsAtOnce: 2, queueDeep: false) == 128)
        slots.claimed(granted: 128, jobs: 0)
        slots.generating = 256 - 60
        #expect(slots.reserve(concurrency: 256, window: 128, claimsAtOnce: 2, queueDeep: true) == 0)
        #expect(slots.reserve(concurrency: 256, window: 128, claimsAtOnce: 2, queueDeep: false) == 60)
        // One slot: a single claim of one job, whatever the number allowed in flight.
        var one = Slots()
        #expect(one.reserve(concurrency: 1, window: 128, claimsAtOnce: 2, queueDeep: false) == 1)
        #expect(one.reserve(concurrency: 1, window: 128, claimsAtOnce: 2, queueDeep: false) == 0)
    }

    @Test("owners take turns: one who queued ten does not make one who queued two wait behind all ten")
    func roundRobin() async throws {
        try await Self.withStore { store in
            let now = Timestamp.millis(Date())
            _ = try await store.insert((0..<10).map { Job.pending(owner: "alice", params: GenerationParams(prompt: "a\($0)"), now: now) })
            _ = try await store.insert((0..<2).map { Job.pending(owner: "bob", params: GenerationParams(prompt: "b\($0)"), now: now + 1) })
            _ = try await store.insert([Job.pending(owner: "carol", params: GenerationParams(prompt: "c0"), now: now + 2)])
            var order: [String] = []
            while let job = try await store.claimForTest(holder: "w") { order.append(job.ownerID) }
            #expect(order.count == 13)
            #expect(Array(order.prefix(6)) == ["alice", "bob", "carol", "alice", "bob", "alice"])
            // A higher priority still goes first.
            _ = try await store.insert([Job.pending(owner: "alice", params: GenerationParams(prompt: "low"), now: now)])
            _ = try await store.insert([Job.pending(owner: "bob", params: GenerationParams(prompt: "urgent"), priority: 5, now: now + 5)])
            #expect(try await store.claimForTest(holder: "w")?.params.prompt == "urgent")
        }
    }

    @Test("owners still take turns when the whole backlog has waited past the scheduler's bound")
    func roundRobinWhenOverdue() async throws {
        try await Self.withStore { store in
            let now = Timestamp.millis(Date())
            // Alice's backlog is 10 minutes old; Bob queues one job 3 minutes ago. All are past
            // the 2-minute bound, and Bob's is the newest: by age alone it would come last.
            _ = try await store.insert((0..<20).map { Job.pending(owner: "alice", params: GenerationParams(prompt: "a\($0)"), now: now - 600_000) })
            _ = try await store.insert([Job.pending(owner: "bob", params: GenerationParams(prompt: "b0"), now: now - 180_000)])
            for preferences in [ClaimPreferences.fifo, ClaimPreferences(loadedModel: "other.safetensors")] {
                let first = try await store.claim(limit: 2, holder: "w", preferences: preferences, leaseMillis: 30_000, now: now)
                #expect(first.map(\.ownerID).sorted() == ["alice", "bob"], "modelAware: \(preferences.modelAware)")
                _ = try await store.insert([Job.pending(owner: "bob", params: GenerationParams(prompt: "b1"), now: now - 180_000)])
            }
        }
    }

    @Test("a batch of several owners is placed in turns, whether written in one statement (PostgreSQL, no keys) or with idempotency keys")
    func mixedBatch() async throws {
        for keyed in [false, true] {
            try await Self.withStore { store in
                let now = Timestamp.millis(Date())
                // Ids in the order of writing: jobs with the same fair key are taken in id order.
                var written = 0
                func job(_ owner: String, _ prompt: String) -> Job {
                    written += 1
                    return Job.pending(id: "gen_test_\(written)", owner: owner, params: GenerationParams(prompt: prompt),
                                       idempotencyKey: keyed ? prompt : nil, now: now)
                }
                _ = try await store.insert([job("alice", "a0")])
                _ = try await store.insert([job("alice", "a1"), job("alice", "a2"), job("bob", "b0"), job("carol", "c0"), job("bob", "b1")])
                var order: [String] = []
                while let claimed = try await store.claimForTest(holder: "w") { order.append(claimed.params.prompt) }
                // bob and carol start at the head of the queue (with a0); alice's new jobs go after a0,
                // and bob's second after his first.
                #expect(order == ["a0", "b0", "c0", "a1", "b1", "a2"], "keyed: \(keyed)")
            }
        }
    }

    @Test("a worker takes only jobs for its checkpoints, prefers the loaded one, and an overdue job goes first")
    func modelPreferences() async throws {
        try await Self.withStore { store in
            let now = Timestamp.millis(Date())
            _ = try await store.insert([
                Job.pending(id: "gen_1", owner: "o", params: GenerationParams(prompt: "x", model: "flux"), now: now),
                Job.pending(id: "gen_2", owner: "o", params: GenerationParams(prompt: "x", model: "sdxl"), now: now + 1),
                Job.pending(id: "gen_3", owner: "o", params: GenerationParams(prompt: "x", model: "pony"), now: now + 2),
                Job.pending(id: "gen_4", owner: "o", params: GenerationParams(prompt: "x", model: "sdxl"), now: now + 3),
            ])
            let sdxlOnly = ClaimPreferences(models: ["sdxl", "pony"], loadedModel: "pony")
            #expect(try await store.claimForTest(holder: "w", preferences: sdxlOnly)?.id == "gen_3")
            let sdxl = ClaimPreferences(models: ["sdxl", "pony"], loadedModel: "sdxl")
            #expect(try await store.claimForTest(holder: "w", preferences: sdxl)?.id == "gen_2")
            // gen_1 (flux) is left to a worker that has flux loaded, unless it waited too long.
            let other = ClaimPreferences(loadedModel: "sdxl", loadedElsewhere: ["flux"], maxWaitMillis: 60_000)
            #expect(try await store.claimForTest(holder: "w", preferences: other)?.id == "gen_4")
            #expect(try await store.claimForTest(holder: "w", preferences: other) == nil)
            let patient = ClaimPreferences(loadedModel: "sdxl", loadedElsewhere: ["flux"], maxWaitMillis: 0)
            #expect(try await store.claimForTest(holder: "w", preferences: patient)?.id == "gen_1")
        }
    }

    @Test("the scheduler trace: model-aware needs at most a third of FIFO's checkpoint loads, and its p95 wait is no worse")
    func swapCounts() async throws {
        try await Self.withStore { store in
            var scenario = SchedulerTrace.Scenario()
            scenario.jobs = 300
            scenario.seed = 7
            let fifo = try await SchedulerTrace.run(scenario, modelAware: false, store: store)
            let aware = try await SchedulerTrace.run(scenario, modelAware: true, store: store)
            #expect(fifo.loads > 100)
            #expect(aware.loads * 3 <= fifo.loads, "model-aware \(aware.loads) loads vs FIFO \(fifo.loads)")
            #expect(aware.p95Wait <= fifo.p95Wait * 1.2, "p95 wait \(aware.p95Wait) s vs FIFO \(fifo.p95Wait) s")
            #expect(aware.maxWait <= scenario.maxWaitSeconds + scenario.loadSeconds + scenario.renderSeconds * 3)
        }
    }
}

@Suite("Image store")
struct ImageStoreTests {
    /// Both ways of linking the unnamed file: by its descriptor (allowed to root, as the tests
    /// run in CI) and by its /proc name (what an unprivileged server falls back to).
    @Test("an image is stored once under its SHA-256, complete, with no temporary file left; storing it again changes nothing",
          arguments: [true, false])
    func contentAddressed(byDescriptor: Bool) async throws {
        let root = JobQueueTests.imageFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = ImageStore(root: root)
        store.linksByDescriptor.store(byDescriptor, ordering: .relaxed)
        let png = PNGEncoder.encode(width: 4, height: 4, rgb: [UInt8](repeating: 7, count: 48))
        let hash = try await store.put(png)
        #expect(hash == Hex.encode(SHA256.hash(data: png)))
        #expect(try await store.put(png) == hash)
        #expect(store.get(hash) == png)
        let files = try FileManager.default.subpathsOfDirectory(atPath: root).filter { !$0.hasSuffix("/") && $0.contains(".") }
        #expect(files == ["\(hash.prefix(2))/\(hash).png"])
        #expect(store.get(String(repeating: "0", count: 64)) == nil && store.get("../etc/passwd") == nil)
    }
}

@Suite("PNG encoder")
struct PNGEncoderTests {
    /// The pixels back from a PNG this encoder wrote: chunk CRCs checked, IDAT inflated by zlib,
    /// rows unfiltered (None, Sub, Up).
    static func decode(_ png: Data) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let bytes = [UInt8](png)
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var offset = 8, width = 0, height = 0
        var idat = ByteBuffer()
        func be32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        while offset < bytes.count {
            let length = be32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            #expect(UInt32(be32(offset + 8 + length)) == PNGEncoder.crc32(Array(bytes[(offset + 4)..<(offset + 8 + length)])), "CRC of \(type)")
            if type == "IHDR" { (width, height) = (be32(offset + 8), be32(offset + 12)) }
            if type == "IDAT" { idat.writeBytes(body) }
            offset += 12 + length
        }
        var inflated = ByteBuffer()
        inflated.reserveCapacity((width * 3 + 1) * height)
        try idat.decompress(to: &inflated, with: .zlib())
        let raw = Array(inflated.readableBytesView)
        let stride = width * 3
        try #require(raw.count == (stride + 1) * height)
        var rgb = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let value = raw[y * (stride + 1) + 1 + x]
                let left = x >= 3 ? rgb[y * stride + x - 3] : 0
                let above = y > 0 ? rgb[(y - 1) * stride + x] : 0
                switch filter {
                case 0: rgb[y * stride + x] = value
                case 1: rgb[y * stride + x] = value &+ left
                case 2: rgb[y * stride + x] = value &+ above
                default: Issue.record("filter \(filter) is not one the encoder writes")
                }
            }
        }
        return (width, height, rgb)
    }

    @Test("images decode back to their pixels (zlib, per-row filters, CRCs) with either filter choice; gradients compress")
    func roundTrip() throws {
        var random = SystemRandomNumberGenerator()
        let noise = (0..<(33 * 21 * 3)).map { _ in UInt8.random(in: 0...255, using: &random) }
        var gradient: [UInt8] = []
        for y in 0..<64 {
            for x in 0..<44 { gradient += [UInt8(x * 5), UInt8(y * 3), (x / 16 + y / 16) % 2 == 0 ? 0 : 200] }
        }
        let images: [(Int, Int, [UInt8])] = [(33, 21, noise), (44, 64, gradient), (1, 1, [1, 2, 3]), (2, 3, Array(0..<18))]
        for (width, height, rgb) in images {
            for filter in [PNGEncoder.RowFilter.adaptive, .up] {
                let png = PNGEncoder.encode(width: width, height: height, rgb: rgb, filter: filter)
                let decoded = try Self.decode(png)
                #expect(decoded.width == width && decoded.height == height && decoded.rgb == rgb, "\(width)×\(height) \(filter)")
            }
        }
        #expect(PNGEncoder.encode(width: 44, height: 64, rgb: gradient).count < 1_000)
        #expect(PNGEncoder.encode(width: 44, height: 64, rgb: gradient, filter: .up).count < 1_000)
    }

    @Test("the mock's picture: Up-filtered rows, a real PNG that zlib reads back, the same for the same prompt and seed")
    func mockPicture() throws {
        let params = GenerationParams(prompt: "a lighthouse at dusk", width: 768, height: 512)
        let first = MockBackend.render(params, seed: 42)
        #expect(first.png == MockBackend.render(params, seed: 42).png)
        #expect(first.png != MockBackend.render(params, seed: 43).png)
        let decoded = try Self.decode(first.png)
        #expect(decoded.width == 64 && decoded.height == 42 && first.png.count < 1_000)
        // The picture, pixel by pixel: red left to right, green top to bottom, a 16 px blue checker.
        let d = SHA256.hash(data: Data("a lighthouse at dusk||42".utf8)).map(Int.init)
        var expected: [UInt8] = []
        for y in 0..<42 {
            for x in 0..<64 {
                expected += [UInt8((d[0] * (64 - x) + d[3] * x) / 64), UInt8((d[1] * (42 - y) + d[4] * y) / 42),
                             UInt8((x / 16 + y / 16) % 2 == 0 ? d[2] : d[2] ^ d[5])]
            }
        }
        #expect(decoded.rgb == expected)
    }
}

@Suite("Deflate")
struct DeflateTests {
    /// zlib (through CompressNIO) inflates the stream and checks its Adler-32.
    static func inflate(_ stream: [UInt8], expecting count: Int) throws -> [UInt8] {
        var input = ByteBuffer(bytes: stream)
        var output = ByteBuffer()
        output.reserveCapacity(max(count, 1))
        try input.decompress(to: &output, with: .zlib())
        return Array(output.readableBytesView)
    }

    @Test("zlib reads back every shape of input: empty, tiny, runs, periodic rows, long repeats at the window's edge, noise")
    func roundTrip() throws {
        var random = SystemRandomNumberGenerator()
        let noise = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        var periodic: [UInt8] = []
        for row in 0..<50 { periodic += [2] + (0..<192).map { $0 % 3 == 1 ? UInt8(row % 7) : 0 } }
        // A 40 KiB block repeated: matches as far back as deflate allows (32 KiB) and no further.
        let block = Array(noise[0..<40_000])
        let inputs: [(String, [UInt8])] = [
            ("empty", []), ("one byte", [7]), ("three bytes", [1, 2, 3]), ("four equal", [9, 9, 9, 9]),
            ("a run", [UInt8](repeating: 0, count: 100_000)), ("periodic rows", periodic),
            ("every length", (0..<300).flatMap { n in [UInt8](repeating: UInt8(n % 256), count: n) + [1, 2, 3, 4, 5] }),
            ("window edge", block + block), ("noise", noise), ("text", Array(String(repeating: "a lighthouse at dusk, ", count: 500).utf8)),
        ]
        for (name, input) in inputs {
            let stream = input.withUnsafeBufferPointer { Deflate.zlib($0) }
            #expect(try Self.inflate(stream, expecting: input.count) == input, "\(name)")
            #expect(stream.count <= input.count + input.count / 64 + 32, "\(name): \(stream.count) bytes for \(input.count)")
        }
        let runStream = [UInt8](repeating: 0, count: 100_000).withUnsafeBufferPointer { Deflate.zlib($0) }
        #expect(runStream.count < 1_000)  // 258 bytes in 20 bits
        let periodicStream = periodic.withUnsafeBufferPointer { Deflate.zlib($0) }
        #expect(periodicStream.count < periodic.count / 20)
    }

    @Test("Adler-32 matches the definition at every length around the vector steps and blocks")
    func adler32() {
        /// The definition, byte by byte.
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var a: UInt32 = 1, b: UInt32 = 0
            for byte in bytes {
                a = (a + UInt32(byte)) % 65_521
                b = (b + a) % 65_521
            }
            return b << 16 | a
        }
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<9_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        for count in [0, 1, 15, 16, 17, 255, 4_095, 4_096, 4_097, 5_552, 5_553, 8_191, 9_000] {
            let value = bytes.withUnsafeBufferPointer { Adler32.checksum(UnsafeBufferPointer(rebasing: $0[0..<count])) }
            #expect(value == reference(bytes[0..<count]), "\(count) bytes")
        }
        let ones = [UInt8](repeating: 255, count: 100_000)
        #expect(ones.withUnsafeBufferPointer { Adler32.checksum($0) } == reference(ones[...]))
    }
}

@Suite("Image links: public, signed and expiring")
struct ImageLinkTests {
    @Test("private images: signed URLs work without credentials until they expire; plain URLs need the owner")
    func signedLinks() async throws {
        try await TestApp.run(["ATELIER_IMAGES_PUBLIC": "false", "ATELIER_GENERATIONS_PER_HOUR": "0"]) { app in
            let (_, alice) = try await app.makeUser("alice")
            let (_, bob) = try await app.makeUser("bob")
            let created = try await app.request(.post, "/api/v1/generations", token: alice, json: #"{"prompt": "a secret garden"}"#)
            let id = try #require(created.json["id"] as? String)
            var job: [String: Any] = [:]
            for _ in 0..<200 where job["status"] as? String != "success" {
                job = try await app.request(.get, "/api/v1/generations/\(id)", token: alice).json
                try await Task.sleep(for: .milliseconds(20))
            }
            let result = try #require(job["result"] as? [String: Any])
            let signed = try #require((result["image_urls"] as? [String])?.first)
            let hash = try #require((result["images"] as? [String])?.first)
            #expect(signed.contains("?expires=") && signed.contains("&sig="))
            #expect(try await app.request(.get, signed).status == .ok)
            #expect(try await app.request(.get, "/images/\(hash).png").status == .unauthorized)
            #expect(try await app.request(.get, "/images/\(hash).png", token: alice).status == .ok)
            #expect(try await app.request(.get, "/images/\(hash).png", token: bob).status == .notFound)
            let tampered = signed.replacingOccurrences(of: "sig=", with: "sig=x")
            #expect(try await app.request(.get, tampered).status == .forbidden)
            let expired = app.runtime.generation.links.signed(hash, expires: Int64(Date().timeIntervalSince1970) - 5)
            let gone = try await app.request(.get, expired)
            #expect(gone.status == .forbidden)
            #expect((gone.json["detail"] as? String)?.contains("expired") == true)

            let share = try await app.request(.post, "/api/v1/generations/\(id)/share", token: alice, json: #"{"expires_in": 120}"#)
            #expect(try await app.request(.get, try #require(share.json["url"] as? String)).status == .ok)
            #expect(try await app.request(.post, "/api/v1/generations/\(id)/share", token: bob, json: "{}").status == .notFound)
            let bad = try await app.request(.post, "/api/v1/generations/\(id)/share", token: alice, json: #"{"expires_in": 5}"#)
            #expect(bad.status == .unprocessableContent)
        }
    }
}

@Suite("Queue wake-ups")
struct QueueWakeTests {
    @Test("PostgreSQL: a job inserted through another pool (as another process) is announced by NOTIFY; SQLite has nothing to listen to")
    func notifyWakes() async throws {
        let settings = try TestDatabase.settings(dataDir: TestDatabase.temporaryDirectory())
        let config = try AppConfig.from(settings)
        let logger = Logger(label: "test")
        let listening = try Database.open(config.database, logger: logger)
        let other = try Database.open(config.database, logger: logger)
        let result = await Result {
            try await Migrator(database: listening, logger: logger).migrate(AllMigrations.list)
            let wakes = NIOLockedValueBox(0)
            let listener = Task { await listening.listen(on: listening.channel("jobs"), logger: logger) { wakes.withLockedValue { $0 += 1 } } }
            defer { listener.cancel() }
            guard listening.kind == .postgres else {
                // Nothing to listen to: the call returns at once and the workers poll.
                await listener.value
                return
            }
            for _ in 0..<250 where wakes.withLockedValue({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            try #require(wakes.withLockedValue { $0 } == 1, "the LISTEN connection did not come up")
            _ = try await JobStore(database: other).insert([Job.pending(owner: "o", params: GenerationParams(prompt: "wake up"), now: Timestamp.millis(Date()))])
            for _ in 0..<250 where wakes.withLockedValue({ $0 }) == 1 { try await Task.sleep(for: .milliseconds(20)) }
            let woke = wakes.withLockedValue { $0 } >= 2
            #expect(woke, "no NOTIFY within 5 s")
        }
        await listening.close()
        await other.close()
        await TestDatabase.cleanUp(settings)
        try result.get()
    }
}

@Suite("Queue schema")
struct QueueSchemaTests {
    @Test("identifiers compare byte by byte on both databases: pages of jobs by id come in the same order, upper case before lower")
    func bytewiseIdentifiers() async throws {
        try await SchedulingTests.withStore { store in
            let database = store.database
            if database.kind == .postgres {
                let rows = try await database.sql.raw("""
                    SELECT column_name, collation_name FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = 'jobs'
                      AND column_name IN ('id', 'owner_id', 'lease_holder', 'worker_id', 'idempotency_key')
                    """).all()
                let collations = try Dictionary(uniqueKeysWithValues: rows.map {
                    (try $0.decode(column: "column_name", as: String.self), try $0.decode(column: "collation_name", as: String?.self))
                })
                #expect(collations == ["id": "C", "owner_id": "C", "lease_holder": "C", "worker_id": "C", "idempotency_key": "C"])
            }
            let now = Timestamp.millis(Date())
            // Under a language's collation (en_US and the like) "gen_a1" sorts before "gen_B1".
            for id in ["gen_a1", "gen_B1", "gen_A2", "gen_b0"] {
                _ = try await store.insert([Job.pending(id: id, owner: "o", params: GenerationParams(prompt: id), now: now)])
            }
            let first = try await store.list(scope: .all, page: PageRequest(limit: 2))
            #expect(first.map(\.id) == ["gen_A2", "gen_B1", "gen_a1"])  // the page and one more, to tell there is a next
            let next = try await store.list(scope: .all, page: PageRequest(limit: 2, after: "gen_B1"))
            #expect(next.map(\.id) == ["gen_a1", "gen_b0"])
        }
    }
}
