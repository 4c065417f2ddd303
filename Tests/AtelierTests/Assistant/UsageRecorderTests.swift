import Foundation
import SQLKit
import Testing

@testable import Assistant

/// Usage is buffered and written once a second; a reader that flushes first must find every
/// request recorded before it, even while another flush is writing (CI once counted 1 request of 2
/// in `GET /admin/llm/usage`).
@Suite("Gateway usage recorder", .timeLimit(.minutes(2)))
struct UsageRecorderTests {
    static func event(_ key: String) -> UsageEvent {
        UsageEvent(
            ownerID: "owner",
            keyID: key,
            providerID: "prv",
            model: "m",
            promptTokens: 3,
            completionTokens: 4,
            status: "ok",
            durationMillis: 1,
            at: 1
        )
    }

    static func rows(_ app: TestApp, _ key: String) async throws -> Int {
        let row = try await app.runtime.database.sql.raw("SELECT COUNT(*) AS n FROM llm_usage WHERE key_id = \(bind: key)").first()
        return try row?.decode(column: "n", as: Int.self) ?? -1
    }

    @Test("a flush while the timer's flush is still writing waits for it, so a reader that flushes first sees every event")
    func flushWaitsForTheFlushUnderWay() async throws {
        try await TestApp.run { app in
            let usage = app.runtime.secretary.gateway.usage
            let database = app.runtime.database
            usage.record(Self.event("key_held"))
            // Another writer holds the table for a moment, so the first flush takes the event and
            // then waits to write it.
            let held = ManagedFlag()
            let holder = Task {
                try await database.transaction { db in
                    if database.kind == .postgres { try await db.raw("LOCK TABLE llm_usage IN EXCLUSIVE MODE").run() }
                    held.set()
                    try await Task.sleep(for: .milliseconds(400))
                }
            }
            while !held.isSet { try await Task.sleep(for: .milliseconds(2)) }
            let timerFlush = Task { try await usage.flush() }
            while usage.buffer.withLock({ !$0.isEmpty }) { try await Task.sleep(for: .milliseconds(2)) }

            try await usage.flush()
            #expect(try await Self.rows(app, "key_held") == 1, "the reader's flush returned before the event was written")
            try await timerFlush.value
            try await holder.value
        }
    }
}
