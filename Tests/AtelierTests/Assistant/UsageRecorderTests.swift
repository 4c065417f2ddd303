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

/// Requests a minute are counted in the database: processes on one database share a key's limit.
@Suite("Gateway rate limits across processes", .timeLimit(.minutes(3)))
struct GatewayRateTests {
    @Test("two processes on one database hold a key to its requests a minute together, not each")
    func sharedAcrossProcesses() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        let installation = try TestApp.freshInstallation()
        let result = await Result {
            try await TestApp.run(installation: installation) { first in
                try await first.addProvider("vllm", upstream, models: ["m"], priority: 1)
                let admin = try await first.login()
                let created = try await first.request(.post, "/api/v1/keys", token: admin, json: #"{"name": "shared"}"#)
                let key = try #require(created.json["key"] as? String)
                let keyID = try #require(created.json["id"] as? String)
                #expect(try await first.request(.put, "/admin/llm/limits/\(keyID)", token: admin, json: #"{"requests_per_minute": 3}"#).status == .ok)
                try await TestApp.run(installation: installation) { second in
                    try await second.runtime.secretary.gateway.directory.reload()
                    var statuses: [Int] = []
                    for app in [first, second, first, second, first] {
                        statuses.append(
                            Int(try await app.request(.post, "/v1/chat/completions", token: key, json: TestApp.chat("m", "hi")).status.code)
                        )
                    }
                    // A minute can turn over between two requests: then the previous one's weight
                    // still holds them under 3 with at most one more let through.
                    #expect(statuses.prefix(3) == [200, 200, 200], "\(statuses)")
                    #expect(statuses.filter { $0 == 200 }.count <= 4 && statuses.last == 429, "\(statuses)")
                    #expect(upstream.calls("chat/completions").count == statuses.filter { $0 == 200 }.count)
                }
            }
        }
        await TestDatabase.cleanUp(installation)
        try result.get()
    }

    @Test("Retry-After: when the previous minute's weight has shrunk enough, or once a minute alone over its limit has passed")
    func retryAfter() {
        // 10 allowed, 6 last minute, 6 now (this one included), a quarter into the minute:
        // 6 × (1 - e) + 6 ≤ 10 once e ≥ 1/3, in (1/3 - 1/4) × 60 = 5 s.
        #expect(UsageLimits.secondsUntilRoom(previous: 6, current: 6, allowed: 10, elapsed: 0.25) == 5)
        // 1 allowed, nothing before, a second one now: the rest of this minute and all of the next.
        #expect(UsageLimits.secondsUntilRoom(previous: 0, current: 2, allowed: 1, elapsed: 0.5) == 90)
        // Never less than a second.
        #expect(UsageLimits.secondsUntilRoom(previous: 1, current: 3, allowed: 3, elapsed: 0.999) == 1)
    }
}
