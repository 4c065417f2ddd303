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

@Suite("Queue wake-ups", .timeLimit(.minutes(5)))
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
            _ = try await JobStore(database: other).insert([
                Job.pending(owner: "o", params: GenerationParams(prompt: "wake up"), now: Timestamp.millis(Date()))
            ])
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
