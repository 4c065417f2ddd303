import Core
import Foundation
import SQLKit
import Storage

/// Seed 001's "N generations per hour per user", checked inside the transaction that inserts the
/// jobs, so a burst of concurrent requests cannot overshoot it: on SQLite the transaction holds
/// the single writer lock, on PostgreSQL an advisory lock per owner (`lockOwners`) serializes the
/// owner's inserts across processes (other owners do not wait).
struct HourlyLimit {
    let perHour: Int
    /// Creation times of the owners' jobs in the window, as read and as added in this transaction.
    private var windows: [String: [Int64]] = [:]

    init(perHour: Int) {
        self.perHour = perHour
    }

    /// Admits `count` new jobs for `owner` created at `now`, or says when to come back.
    mutating func admit(owner: String, count: Int, now: Int64, in db: any SQLDatabase) async throws -> AppError? {
        guard perHour > 0, count > 0 else { return nil }
        let since = now - 3_600_000
        var times: [Int64]
        if let known = windows[owner] {
            times = known.filter { $0 > since }
        } else {
            // Job ids start with their creation time (see `ID.make`), so the owner's index on
            // (owner_id, id) bounds the scan to the last hour (and a minute for clock skew).
            let rows = try await db.raw(
                """
                SELECT created_at FROM jobs WHERE owner_id = \(bind: owner) AND id >= \(bind: ID.lowerBound(Job.idPrefix, millis: since - 60_000))
                  AND created_at > \(bind: since) ORDER BY created_at
                """
            ).all()
            times = try rows.map { try $0.decode(column: "created_at", as: Int64.self) }
        }
        guard times.count + count > perHour else {
            windows[owner] = times + Array(repeating: now, count: count)
            return nil
        }
        windows[owner] = times
        // The window frees up when the oldest generations in it turn an hour old.
        let freeing = times.count + count - perHour
        let resumeAt = freeing <= times.count ? times[freeing - 1] + 3_600_000 : now + 3_600_000
        let seconds = Int((resumeAt - now) / 1000) + 1
        let detail =
            count > perHour
            ? "the limit is \(perHour) generations per hour and this request asks for \(count): send at most \(perHour)"
            : "the limit is \(perHour) generations per hour; try again in \(seconds) seconds"
        return AppError.rateLimited(detail, retryAfter: seconds)
    }

    /// PostgreSQL: takes the advisory locks that serialize these owners' inserts until the
    /// transaction ends, before anything is read. All in one statement and in the order of the
    /// lock keys, so two batches that share owners cannot deadlock (each would otherwise hold one
    /// owner and wait for the other's), and before the idempotency lookups, so a retried request
    /// in a concurrent batch finds the job its twin inserted instead of being counted again.
    /// The keys include the schema's channel name: installations sharing a database do not block
    /// each other.
    static func lockOwners(_ owners: Set<String>, database: Database, in db: any SQLDatabase) async throws {
        guard database.kind == .postgres, !owners.isEmpty else { return }
        let keys = owners.map { database.channel("jobs") + ":limit:" + $0 }
        try await db.raw(
            """
            SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(\(bind: keys)::text[]) AS k ORDER BY 1) AS s
            """
        ).run()
    }
}
