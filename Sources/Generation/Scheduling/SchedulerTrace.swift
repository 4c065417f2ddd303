import Core
import Foundation

/// Replays a generated workload through the real queue (the same `JobStore.claim` SQL the workers
/// run) in simulated time, with simulated GPUs that pay a cost to load a checkpoint, and reports
/// checkpoint loads and waits. Run once model-aware and once as plain FIFO, it shows what the
/// scheduler buys. Used by `atelier bench scheduler` and the scheduler tests.
package struct SchedulerTrace: Sendable {
    package struct Scenario: Sendable, Codable {
        package var jobs = 1000
        package var checkpoints = 5
        package var workers = 3
        package var loadSeconds = 10.0
        package var renderSeconds = 3.0
        /// How busy FIFO's GPUs would be (arrival rate relative to FIFO's capacity).
        package var utilization = 0.7
        /// Images per request (a user asking for 1…8 pictures with one model).
        package var batchMin = 1
        package var batchMax = 8
        package var maxWaitSeconds = 120.0
        package var seed: UInt64 = 1

        package init() {}
    }

    package struct Outcome: Sendable, Codable {
        /// Checkpoint loads (the first load on each GPU counts too).
        package var loads: Int
        /// Seconds from arrival until the job's image starts rendering (its own checkpoint load included).
        package var p50Wait: Double
        package var p95Wait: Double
        package var maxWait: Double
        /// Simulated seconds until the last job finished.
        package var makespan: Double
    }

    package struct Arrival: Sendable {
        package var at: Int64
        package var model: String
    }

    /// Requests arrive as a Poisson process; each brings a batch for one checkpoint.
    package static func arrivals(_ scenario: Scenario) -> [Arrival] {
        var random = SplitMix64(seed: scenario.seed)
        let fifoService = scenario.renderSeconds + scenario.loadSeconds * (1 - 1 / Double(scenario.checkpoints))
        let meanBatch = Double(scenario.batchMin + scenario.batchMax) / 2
        let rate = scenario.utilization * Double(scenario.workers) / fifoService / meanBatch
        var arrivals: [Arrival] = []
        var time = 0.0
        while arrivals.count < scenario.jobs {
            time += -log(1 - random.nextUnit()) / rate
            let model = "checkpoint-\(random.next() % UInt64(scenario.checkpoints) + 1)"
            let size = scenario.batchMin + Int(random.next() % UInt64(scenario.batchMax - scenario.batchMin + 1))
            for _ in 0..<min(size, scenario.jobs - arrivals.count) {
                arrivals.append(Arrival(at: Int64(time * 1000), model: model))
            }
        }
        return arrivals
    }

    /// Runs the scenario on `store` (whose database must have no other waiting jobs).
    package static func run(_ scenario: Scenario, modelAware: Bool, store: JobStore) async throws -> Outcome {
        let arrivals = Self.arrivals(scenario)
        // Far from real timestamps, and a fresh owner per run, so runs on one database do not mix.
        let base: Int64 = 1_000_000_000_000
        let owner = "trace-\(ID.make("run"))"
        var jobs: [Job] = []
        for arrival in arrivals {
            var job = Job.pending(owner: owner, params: GenerationParams(prompt: "trace", model: arrival.model), now: base + arrival.at)
            job.runAfter = base + arrival.at
            jobs.append(job)
        }
        for chunk in stride(from: 0, to: jobs.count, by: 100) {
            _ = try await store.insert(Array(jobs[chunk..<min(jobs.count, chunk + 100)]))
        }
        let load = Int64(scenario.loadSeconds * 1000)
        let render = Int64(scenario.renderSeconds * 1000)
        var loaded = [String?](repeating: nil, count: scenario.workers)
        var freeAt = [Int64](repeating: base, count: scenario.workers)
        var waits: [Int64] = []
        var loads = 0
        var now = base
        var arrived = 0
        while waits.count < arrivals.count {
            while arrived < arrivals.count && base + arrivals[arrived].at <= now { arrived += 1 }
            for worker in 0..<scenario.workers where freeAt[worker] <= now {
                let elsewhere = loaded.enumerated().filter { $0.offset != worker }.compactMap(\.element)
                let preferences = ClaimPreferences(
                    loadedModel: loaded[worker],
                    loadedElsewhere: elsewhere,
                    modelAware: modelAware,
                    maxWaitMillis: Int64(scenario.maxWaitSeconds * 1000)
                )
                guard let job = try await store.claim(holder: "trace", preferences: preferences, leaseMillis: 1 << 40, now: now) else { continue }
                let swap = job.params.model != loaded[worker]
                if swap { loads += 1 }
                waits.append(now - job.createdAt + (swap ? load : 0))
                freeAt[worker] = now + render + (swap ? load : 0)
                loaded[worker] = job.params.model
            }
            // Next event: a GPU frees up, a request arrives, or (workers idle while jobs wait, as
            // when a job is left to another GPU) the next one-second poll.
            var next = freeAt.filter { $0 > now }
            if arrived < arrivals.count { next.append(base + arrivals[arrived].at) }
            if arrived > waits.count && freeAt.contains(where: { $0 <= now }) { next.append(now + 1000) }
            guard let soonest = next.min() else { break }
            now = soonest
        }
        let sorted = waits.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]) / 1000
        }
        return Outcome(
            loads: loads,
            p50Wait: percentile(0.5),
            p95Wait: percentile(0.95),
            maxWait: Double(sorted.last ?? 0) / 1000,
            makespan: Double((freeAt.max() ?? base) - base) / 1000
        )
    }
}

/// A small seeded generator, so a trace is the same on every run and machine.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
