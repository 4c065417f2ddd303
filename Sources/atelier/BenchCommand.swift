import ArgumentParser
import AtelierApp
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure parts of Atelier in isolation (see scripts/bench for the full benchmarks).",
        subcommands: [Scheduler.self]
    )

    struct Scheduler: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay a workload through the real queue in simulated time: checkpoint loads and waits, model-aware vs FIFO.",
            discussion: """
                Requests arrive as a Poisson process, each a batch of images for one checkpoint; simulated GPUs pay \
                --load-seconds to change checkpoint and --render-seconds per image. The claims are the real SQL the \
                workers run, on a throwaway SQLite database. Wait = arrival until the image starts rendering \
                (including its own checkpoint load).
                """
        )
        @Option(help: "Jobs in the trace.") var jobs = 1000
        @Option(help: "Distinct checkpoints.") var checkpoints = 5
        @Option(help: "Simulated GPUs.") var workers = 3
        @Option(help: "Seconds to load a checkpoint.") var loadSeconds = 10.0
        @Option(help: "Seconds to render one image.") var renderSeconds = 3.0
        @Option(help: "How busy FIFO's GPUs would be (0.1…0.95).") var utilization = 0.7
        @Option(help: "Largest batch (images per request; the smallest is 1).") var batchMax = 8
        @Option(help: "ATELIER_SCHEDULER_MAX_WAIT_SECONDS for the trace.") var maxWait = 120.0
        @Option(help: "Random seed (same seed, same trace).") var seed: UInt64 = 1
        @Flag(help: "Print JSON instead of a table.") var json = false

        func validate() throws {
            guard (1...100_000).contains(jobs) else { throw ValidationError("--jobs must be from 1 to 100000") }
            guard (1...1000).contains(checkpoints), (1...256).contains(workers) else {
                throw ValidationError("--checkpoints 1…1000, --workers 1…256")
            }
            guard (0.1...0.95).contains(utilization) else { throw ValidationError("--utilization must be from 0.1 to 0.95") }
            guard batchMax >= 1, loadSeconds >= 0, renderSeconds > 0 else {
                throw ValidationError("--batch-max ≥ 1, --load-seconds ≥ 0, --render-seconds > 0")
            }
        }

        func run() async throws {
            var scenario = SchedulerBench.Scenario()
            scenario.jobs = jobs
            scenario.checkpoints = checkpoints
            scenario.workers = workers
            scenario.loadSeconds = loadSeconds
            scenario.renderSeconds = renderSeconds
            scenario.utilization = utilization
            scenario.batchMax = batchMax
            scenario.maxWaitSeconds = maxWait
            scenario.seed = seed
            let (fifo, aware) = try await SchedulerBench.compare(scenario)
            if json {
                struct Report: Encodable {
                    var scenario: SchedulerBench.Scenario
                    var fifo: SchedulerBench.Outcome
                    var model_aware: SchedulerBench.Outcome
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(Report(scenario: scenario, fifo: fifo, model_aware: aware)), as: UTF8.self))
                return
            }
            print(
                "trace: \(jobs) jobs, \(checkpoints) checkpoints, \(workers) GPUs, load \(loadSeconds) s, render \(renderSeconds) s, batches 1…\(batchMax), FIFO utilisation \(utilization), seed \(seed)"
            )
            func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }
            let rows = [("fifo", fifo), ("model-aware", aware)].map { name, outcome in
                [
                    name, String(outcome.loads), seconds(outcome.p50Wait), seconds(outcome.p95Wait), seconds(outcome.maxWait),
                    String(format: "%.0f s", outcome.makespan),
                ]
            }
            Table.print(header: ["SCHEDULER", "LOADS", "P50 WAIT", "P95 WAIT", "MAX WAIT", "MAKESPAN"], rows: rows)
            print(
                String(
                    format: "loads ratio %.3f (target ≤ 0.333), p95 wait ratio %.3f (target ≤ 1.2)",
                    Double(aware.loads) / Double(max(1, fifo.loads)),
                    aware.p95Wait / max(0.001, fifo.p95Wait)
                )
            )
        }
    }
}
