import Core
import Foundation
import SQLKit
import Storage
import Synchronization

/// Optional limits per API key (or per account for JWT callers): requests a minute and tokens a
/// calendar month (UTC). Over either, the gateway answers 429 with `Retry-After` before calling
/// any upstream. Limits and the month's usage are read from the database at most every 10 s and
/// kept in memory; requests a minute are counted in this process.
package final class UsageLimits: Sendable {
    package struct Limit: Sendable, Equatable, Codable {
        package var subject_id: String
        package var requests_per_minute: Int?
        package var monthly_tokens: Int64?
    }

    struct Cached {
        var limit: Limit?
        var usedThisMonth: Int64
        var readAt: ContinuousClock.Instant
    }

    let database: Database
    let usage: UsageRecorder
    let cache = Mutex([String: Cached]())
    let windows = Mutex([String: [ContinuousClock.Instant]]())
    static let refresh: Duration = .seconds(10)

    package init(database: Database, usage: UsageRecorder) {
        self.database = database
        self.usage = usage
    }

    /// Throws a 429 when `principal` is over a limit; counts the request otherwise.
    package func admit(_ principal: Principal) async throws {
        let subject = principal.keyID ?? principal.userID
        let now = ContinuousClock.now
        var cached = cache.withLock { $0[subject] }
        if cached == nil || now - cached!.readAt > Self.refresh {
            cached = try await read(subject: subject, now: now)
        }
        guard let cached, let limit = cached.limit else { return }
        if let budget = limit.monthly_tokens {
            let used = cached.usedThisMonth + usage.pending(subject: subject, since: Self.monthStart())
            if used >= budget {
                throw AppError.rateLimited(
                    "this key has used its \(budget) tokens for the month (\(used) used); an admin can raise it at PUT /admin/llm/limits/\(subject)",
                    retryAfter: Self.secondsToNextMonth()
                )
            }
        }
        if let perMinute = limit.requests_per_minute {
            let wait: Duration? = windows.withLock { windows in
                var times = windows[subject, default: []].filter { now - $0 < .seconds(60) }
                if times.count >= perMinute, let oldest = times.first {
                    windows[subject] = times
                    return .seconds(60) - (now - oldest)
                }
                times.append(now)
                windows[subject] = times
                return nil
            }
            if let wait {
                throw AppError.rateLimited(
                    "at most \(perMinute) requests a minute for this key; try again shortly",
                    retryAfter: Int(wait.components.seconds) + 1
                )
            }
        }
    }

    func read(subject: String, now: ContinuousClock.Instant) async throws -> Cached {
        let limit = try await find(subject: subject)
        var used: Int64 = 0
        if limit?.monthly_tokens != nil {
            used =
                try await database.sql.raw(
                    """
                    SELECT CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS n FROM llm_usage
                    WHERE (key_id = \(bind: subject) OR (key_id IS NULL AND owner_id = \(bind: subject))) AND at >= \(bind: Self.monthStart())
                    """
                ).first()?.decode(column: "n", as: Int64.self) ?? 0
        }
        let cached = Cached(limit: limit, usedThisMonth: used, readAt: now)
        cache.withLock { $0[subject] = cached }
        return cached
    }

    package func find(subject: String) async throws -> Limit? {
        try await database.sql.raw(
            "SELECT subject_id, requests_per_minute, monthly_tokens FROM llm_limits WHERE subject_id = \(bind: subject)"
        ).first(decoding: Limit.self)
    }

    package func set(_ limit: Limit) async throws {
        let now = Timestamp.millis(Date())
        try await database.sql.raw(
            """
            INSERT INTO llm_limits (subject_id, requests_per_minute, monthly_tokens, updated_at)
            VALUES (\(bind: limit.subject_id), \(bind: limit.requests_per_minute), \(bind: limit.monthly_tokens), \(bind: now))
            ON CONFLICT (subject_id) DO UPDATE SET requests_per_minute = excluded.requests_per_minute,
                monthly_tokens = excluded.monthly_tokens, updated_at = excluded.updated_at
            """
        ).run()
        cache.withLock { $0[limit.subject_id] = nil }
    }

    static func monthStart(_ date: Date = Date()) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let start = calendar.date(from: calendar.dateComponents([.year, .month], from: date)) ?? date
        return Timestamp.millis(start)
    }

    static func secondsToNextMonth(_ date: Date = Date()) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        guard let start = calendar.date(from: calendar.dateComponents([.year, .month], from: date)),
            let next = calendar.date(byAdding: .month, value: 1, to: start)
        else { return 3600 }
        return max(1, Int(next.timeIntervalSince(date)))
    }
}
