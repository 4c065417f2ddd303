import Core
import Foundation
import SQLKit
import Storage
import Synchronization

/// Optional limits per API key and per account (which cover the account's JWT and all its keys):
/// requests a minute and tokens a calendar month (UTC). Over either, the gateway answers 429 with
/// `Retry-After` before calling any upstream. Limits and the month's usage are read from the
/// database at most every 10 s and kept in memory. Requests a minute are counted in the database
/// (`llm_rate_counts`), so N processes on one PostgreSQL hold a key to its limit together.
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
    static let refresh: Duration = .seconds(10)

    package init(database: Database, usage: UsageRecorder) {
        self.database = database
        self.usage = usage
    }

    /// What a limit applies to: one API key, or an account (its JWT and every key it made, so
    /// that a new key is not a way around the account's limit).
    enum Subject: Equatable {
        case key(String)
        case account(String)

        var id: String {
            switch self {
            case .key(let id), .account(let id): id
            }
        }
        var noun: String {
            switch self {
            case .key: "this key"
            case .account: "this account"
            }
        }
    }

    /// Throws a 429 when `principal` is over a limit of its key or of its account; counts the
    /// request against both otherwise.
    package func admit(_ principal: Principal) async throws {
        var subjects: [Subject] = [.account(principal.userID)]
        if let key = principal.keyID { subjects.insert(.key(key), at: 0) }
        let now = ContinuousClock.now
        var limits: [(Subject, Limit)] = []
        for subject in subjects {
            var cached = cache.withLock { $0[subject.id] }
            if cached == nil || now - cached!.readAt > Self.refresh {
                cached = try await read(subject, now: now)
            }
            guard let cached, let limit = cached.limit else { continue }
            if let budget = limit.monthly_tokens {
                let used = cached.usedThisMonth + usage.pending(subject: subject.id, since: Self.monthStart())
                if used >= budget {
                    throw AppError.rateLimited(
                        "\(subject.noun) has used its \(budget) tokens for the month (\(used) used); an admin can raise it at PUT /admin/llm/limits/\(subject.id)",
                        retryAfter: Self.secondsToNextMonth()
                    )
                }
            }
            limits.append((subject, limit))
        }
        let perMinute = limits.compactMap { subject, limit in limit.requests_per_minute.map { (subject, $0) } }
        guard !perMinute.isEmpty else { return }
        try await count(perMinute, at: Timestamp.millis(Date()))
    }

    /// Counts one request for each of `subjects` in its minute, or throws the 429 of the first
    /// whose last 60 s would hold more than it allows; then nothing is counted (the transaction
    /// rolls back), so a refused request does not use up the key's minute for the account's sake.
    ///
    /// A sliding window without a row per request: a row per subject and calendar minute, and the
    /// estimate `previous minute × the part of it still inside the last 60 s + this minute`, as
    /// Cloudflare's limiter does. Rows older than the minute before are removed as a minute starts.
    func count(_ subjects: [(Subject, Int)], at millis: Int64) async throws {
        let minute = millis / 60_000
        let elapsed = Double(millis % 60_000) / 60_000
        try await database.transaction { db in
            for (subject, allowed) in subjects {
                let current =
                    try await db.raw(
                        """
                        INSERT INTO llm_rate_counts (subject_id, minute, requests) VALUES (\(bind: subject.id), \(bind: minute), 1)
                        ON CONFLICT (subject_id, minute) DO UPDATE SET requests = llm_rate_counts.requests + 1
                        RETURNING requests
                        """
                    ).first()?.decode(column: "requests", as: Int.self) ?? 1
                if current == 1 {
                    try await db.raw(
                        "DELETE FROM llm_rate_counts WHERE subject_id = \(bind: subject.id) AND minute < \(bind: minute - 1)"
                    ).run()
                }
                let previous =
                    try await db.raw(
                        "SELECT requests FROM llm_rate_counts WHERE subject_id = \(bind: subject.id) AND minute = \(bind: minute - 1)"
                    ).first()?.decode(column: "requests", as: Int.self) ?? 0
                let estimate = Double(previous) * (1 - elapsed) + Double(current)
                guard estimate > Double(allowed) else { continue }
                let wait = Self.secondsUntilRoom(previous: previous, current: current, allowed: allowed, elapsed: elapsed)
                throw AppError.rateLimited(
                    "at most \(allowed) requests a minute for \(subject.noun); try again shortly",
                    retryAfter: wait
                )
            }
        }
    }

    /// Seconds until one more request fits, when `current` (this one included, which is not
    /// kept) went over `allowed` with `previous` in the minute before, `elapsed` (0–1) into this
    /// minute. While the previous minute still weighs, it fits once its weight has shrunk enough;
    /// when this minute alone is over, it fits once this minute, become the previous, has.
    static func secondsUntilRoom(previous: Int, current: Int, allowed: Int, elapsed: Double) -> Int {
        let room = Double(allowed - current)
        let minutes: Double
        if room >= 0, previous > 0 {
            minutes = 1 - room / Double(previous) - elapsed
        } else {
            let kept = max(1, current - 1)
            minutes = (1 - elapsed) + max(0, 1 - Double(allowed - 1) / Double(kept))
        }
        // (less a hair, so 5.000000001 s of floating-point error is 5 s)
        return max(1, Int((minutes * 60 - 1e-6).rounded(.up)))
    }

    func read(_ subject: Subject, now: ContinuousClock.Instant) async throws -> Cached {
        let limit = try await find(subject: subject.id)
        var used: Int64 = 0
        if limit?.monthly_tokens != nil {
            let whose: SQLQueryString =
                switch subject {
                case .key(let id): "key_id = \(bind: id)"
                case .account(let id): "owner_id = \(bind: id)"
                }
            used =
                try await database.sql.raw(
                    """
                    SELECT CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS n FROM llm_usage
                    WHERE \(whose) AND at >= \(bind: Self.monthStart())
                    """
                ).first()?.decode(column: "n", as: Int64.self) ?? 0
        }
        let cached = Cached(limit: limit, usedThisMonth: used, readAt: now)
        cache.withLock { $0[subject.id] = cached }
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
