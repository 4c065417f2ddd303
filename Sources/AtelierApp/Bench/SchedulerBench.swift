import Foundation
import Generation
import Logging
import Storage

/// `atelier bench scheduler`: a trace replayed through the queue's real claims on a throwaway
/// SQLite database, once first-in first-out and once model-aware.
package enum SchedulerBench {
    package typealias Scenario = SchedulerTrace.Scenario
    package typealias Outcome = SchedulerTrace.Outcome

    package static func compare(_ scenario: Scenario) async throws -> (fifo: Outcome, modelAware: Outcome) {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("atelier-trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "atelier.bench")
        logger.logLevel = .error
        let database = try Database.open(.sqlite(path: (directory as NSString).appendingPathComponent("trace.sqlite")), logger: logger)
        let result = await Result { () -> (Outcome, Outcome) in
            try await Migrator(database: database, logger: logger).migrate(AllMigrations.list)
            let store = JobStore(database: database)
            let fifo = try await SchedulerTrace.run(scenario, modelAware: false, store: store)
            let aware = try await SchedulerTrace.run(scenario, modelAware: true, store: store)
            return (fifo, aware)
        }
        await database.close()
        let (fifo, aware) = try result.get()
        return (fifo, aware)
    }
}
