import Core
import Foundation
import PostgresKit
import SQLKit
import Storage

/// Claiming jobs and keeping their leases: the queue side of a worker.
extension JobStore {
    /// Claims the next job for a worker, in one statement. The first `preferences.window`
    /// waiting jobs in fair order (priority, then fair key) are the candidates (on PostgreSQL
    /// they are locked with `SKIP LOCKED`, so concurrent claimers look at different rows);
    /// `ClaimPreferences` says which of them this worker takes.
    package func claim(
        holder: String,
        workerID: String? = nil,
        preferences: ClaimPreferences = .fifo,
        leaseMillis: Int64,
        now: Int64
    ) async throws -> Job? {
        try await claim(limit: 1, holder: holder, workerID: workerID, preferences: preferences, leaseMillis: leaseMillis, now: now).first
    }

    /// Claims up to `limit` jobs in one statement (a worker with free slots fills them at once).
    package func claim(
        limit: Int,
        holder: String,
        workerID: String? = nil,
        preferences: ClaimPreferences = .fifo,
        leaseMillis: Int64,
        now: Int64
    ) async throws -> [Job] {
        var candidates: SQLQueryString =
            "SELECT id, model, created_at, priority, fair_key FROM jobs WHERE state = 'pending' AND run_after <= \(bind: now)"
        if !preferences.models.isEmpty {
            candidates += " AND (model IS NULL"
            for model in preferences.models { candidates += " OR model = \(bind: model)" }
            candidates += ")"
        }
        candidates += " ORDER BY priority DESC, fair_key, id LIMIT \(unsafeRaw: String(preferences.window))"
        if database.kind == .postgres { candidates += " FOR UPDATE SKIP LOCKED" }
        // Jobs that have waited past the bound go first, among themselves in fair order (owners
        // still take turns: ordered by age instead, a backlog older than the bound, usual on
        // busy GPUs, turned into one owner's FIFO); the model preferences apply to the others.
        let cutoff = now - preferences.maxWaitMillis
        let overdue: SQLQueryString = "c.created_at < \(bind: cutoff)"
        var filter: SQLQueryString = ""
        var order: SQLQueryString = "c.priority DESC, CASE WHEN " + overdue + " THEN 0 ELSE 1 END"
        if preferences.modelAware {
            order += ", CASE WHEN " + overdue + " OR c.model IS NULL OR c.model = \(bind: preferences.loadedModel ?? "") THEN 0 ELSE 1 END"
            if !preferences.loadedElsewhere.isEmpty {
                var elsewhere: SQLQueryString = "c.model IN ("
                for (index, model) in preferences.loadedElsewhere.enumerated() {
                    elsewhere += (index == 0 ? "" : ", ") + "\(bind: model)"
                }
                elsewhere += ")"
                order += ", CASE WHEN " + overdue + " THEN 0 WHEN " + elsewhere + " THEN 1 ELSE 0 END"
                if let loaded = preferences.loadedModel {
                    filter =
                        " WHERE c.model IS NULL OR c.model = \(bind: loaded) OR c.created_at <= \(bind: now - preferences.swapHoldMillis) OR NOT ("
                        + elsewhere + ")"
                }
            }
        }
        // A join with the chosen ids rather than `WHERE id IN (…)`: the same plan, found with less
        // search while sorting is disabled (below).
        let query: SQLQueryString = """
            UPDATE jobs SET state = 'started', lease_holder = \(bind: holder), lease_expires_at = \(bind: now + leaseMillis),
                attempt = attempt + 1, started_at = COALESCE(started_at, \(bind: now)), worker_id = \(bind: workerID), updated_at = \(bind: now)
            FROM (SELECT c.id AS pick FROM (
            """ + candidates + ") c" + filter + " ORDER BY " + order + """
                , c.fair_key, c.id LIMIT \(unsafeRaw: String(max(1, min(limit, preferences.window))))) picked
                WHERE jobs.id = picked.pick AND jobs.state = 'pending'
                RETURNING \(unsafeRaw: Self.columns)
                """
        guard database.kind == .postgres else {
            return try await database.sql.raw(query).all().map { try JobRow(row: $0).job() }
        }
        // The plan must walk `jobs_pending` in order and stop after the window. With statistics
        // taken before a burst of enqueues, PostgreSQL believes few jobs wait and prefers to
        // sort all of them on every claim (docs/BENCHMARKS.md has the cost). Sorting is
        // disabled for this transaction so the ordered index scan is the
        // only cheap plan; JIT is off because that penalty would otherwise make it compile the
        // query each time.
        //
        // The claim's commit does not wait for its WAL to reach the disk (the claim loop used to
        // wait on that flush while the CPU idled). Losing a claim in a crash of PostgreSQL only
        // gives the job back to the queue, as an expired lease would; and since WAL is flushed in
        // order, the durable commit of the job's outcome, later in the log, makes its claim
        // durable too.
        let statement = try database.postgresQuery(query)
        return try await database.postgresTransaction { connection, logger in
            try await connection.query(
                "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true), set_config('synchronous_commit', 'off', true)",
                logger: logger
            )
            var jobs: [Job] = []
            for try await row in try await connection.query(statement, logger: logger) {
                jobs.append(try JobRow(postgres: row).job())
            }
            return jobs
        }
    }

    /// Returns jobs whose lease expired (their process died or hung) to the queue. The attempt
    /// they used stays counted, so a job that keeps killing its worker ends `failed`.
    func reapExpired(now: Int64) async throws -> Int {
        try await database.sql.raw(
            """
            UPDATE jobs SET state = 'pending', lease_holder = NULL, lease_expires_at = NULL, run_after = \(bind: now), updated_at = \(bind: now),
                error = 'the worker running it stopped (its lease expired)'
            WHERE state = 'started' AND lease_expires_at < \(bind: now)
            RETURNING id
            """
        ).all().count
    }

    /// Extends the leases of the jobs `ids` that `holder` runs; returns the ids it still holds (a
    /// job missing from the answer was cancelled or reaped). Only the jobs the worker tracks: a
    /// row it leased but no longer runs (its outcome could not be written) must expire and be
    /// reaped, not be kept alive by every heartbeat while the worker is busy with others.
    func heartbeat(holder: String, ids: [String], leaseMillis: Int64, now: Int64) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        var query: SQLQueryString =
            "UPDATE jobs SET lease_expires_at = \(bind: now + leaseMillis) WHERE lease_holder = \(bind: holder) AND state = 'started' AND id IN ("
        for (index, id) in ids.enumerated() { query += (index == 0 ? "" : ", ") + "\(bind: id)" }
        query += ") RETURNING id"
        let rows = try await database.sql.raw(query).all()
        return Set(try rows.map { try $0.decode(column: "id", as: String.self) })
    }

    /// What a worker's writes about a job must match: its lease holder and the attempt it claimed
    /// (`attempt` is counted up by each claim). A worker whose lease was lost and whose job was
    /// claimed again, even by itself, then changes nothing about the new attempt.
    static func claimToken(holder: String, attempt: Int) -> String { "\(holder)#\(attempt)" }
}
