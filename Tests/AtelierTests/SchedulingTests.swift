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

@Suite("Scheduling: fairness between owners, worker models, checkpoint swaps", .timeLimit(.minutes(5)))
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
            while let job = try await store.claimNow(holder: "w") { order.append(job.ownerID) }
            #expect(order.count == 13)
            #expect(Array(order.prefix(6)) == ["alice", "bob", "carol", "alice", "bob", "alice"])
            // A higher priority still goes first.
            _ = try await store.insert([Job.pending(owner: "alice", params: GenerationParams(prompt: "low"), now: now)])
            _ = try await store.insert([Job.pending(owner: "bob", params: GenerationParams(prompt: "urgent"), priority: 5, now: now + 5)])
            #expect(try await store.claimNow(holder: "w")?.params.prompt == "urgent")
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
                    return Job.pending(
                        id: "gen_test_\(written)",
                        owner: owner,
                        params: GenerationParams(prompt: prompt),
                        idempotencyKey: keyed ? prompt : nil,
                        now: now
                    )
                }
                _ = try await store.insert([job("alice", "a0")])
                _ = try await store.insert([job("alice", "a1"), job("alice", "a2"), job("bob", "b0"), job("carol", "c0"), job("bob", "b1")])
                var order: [String] = []
                while let claimed = try await store.claimNow(holder: "w") { order.append(claimed.params.prompt) }
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
            #expect(try await store.claimNow(holder: "w", preferences: sdxlOnly)?.id == "gen_3")
            let sdxl = ClaimPreferences(models: ["sdxl", "pony"], loadedModel: "sdxl")
            #expect(try await store.claimNow(holder: "w", preferences: sdxl)?.id == "gen_2")
            // gen_1 (flux) is left to a worker that has flux loaded, unless it waited too long.
            let other = ClaimPreferences(loadedModel: "sdxl", loadedElsewhere: ["flux"], maxWaitMillis: 60_000)
            #expect(try await store.claimNow(holder: "w", preferences: other)?.id == "gen_4")
            #expect(try await store.claimNow(holder: "w", preferences: other) == nil)
            let patient = ClaimPreferences(loadedModel: "sdxl", loadedElsewhere: ["flux"], maxWaitMillis: 0)
            #expect(try await store.claimNow(holder: "w", preferences: patient)?.id == "gen_1")
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
