import Accounts
import Core
import Foundation
import PostgresKit
import SQLKit
import Storage

/// The jobs table, which is the queue. Claiming is one statement: on PostgreSQL the candidate row
/// is locked with `FOR UPDATE SKIP LOCKED`, so concurrent processes never claim the same job and
/// never wait on each other; on SQLite the single writer makes the UPDATE atomic.
public struct JobStore: Sendable {
    let database: Database
    /// Concurrent enqueues are written together (see `GroupCommit`).
    private let inserts: GroupCommit<InsertRequest, Result<[Job], AppError>>
    /// Finished attempts of concurrent jobs are written together.
    private let completions: GroupCommit<Completion, Bool>

    public init(database: Database) {
        self.database = database
        // On PostgreSQL two batches of each are in flight: while one waits for its round trips and
        // commit, the next is written (fair keys of an owner's jobs in the two may then tie; `id`
        // orders them). SQLite has one writer, so a second batch would only wait for the lock.
        inserts = GroupCommit(flushers: database.kind == .postgres ? 2 : 1) { requests in try await Self.insert(requests, into: database) }
        completions = GroupCommit(maxBatch: 256, flushers: database.kind == .postgres ? 2 : 1) { items in try await Self.complete(items, in: database) }
    }

    static let columns = "id, owner_id, kind, params, state, priority, attempt, max_attempts, idempotency_key, result, error, run_after, lease_holder, lease_expires_at, created_at, updated_at, started_at, finished_at, worker_id, fair_key"

    /// A job to insert with its parameters as JSON, encoded by the enqueueing request (in
    /// parallel with the others, not in the batch that is written one at a time).
    struct NewJob: Sendable {
        var job: Job
        var params: String
    }

    /// Jobs to insert together, and the owner's hourly limit (0: none).
    struct InsertRequest: Sendable {
        var jobs: [NewJob]
        var perHour: Int
    }

    /// Inserts jobs atomically (all or none); with an idempotency key an existing job is returned
    /// instead. Requests arriving together are written together (one transaction, or on
    /// PostgreSQL, when there is nothing to look up, one INSERT). With `perHour` > 0 the owner's
    /// new jobs must fit in that many per hour, checked in the same transaction
    /// (a 429 that says when to come back otherwise; replays of idempotency keys always pass).
    ///
    /// Each job gets a place in a fair queue (start-time fair queuing): an owner's first waiting
    /// job is placed at the head of the queue (the lowest `fair_key` waiting at its priority),
    /// and each further one after that owner's last waiting job. Claims take the lowest key, so
    /// owners with waiting jobs take turns, and one who queues a thousand does not starve one who
    /// queues one.
    public func insert(_ jobs: [Job], perHour: Int = 0) async throws -> [Job] {
        let new = jobs.map { NewJob(job: $0, params: $0.params.storedJSON) }
        let request = InsertRequest(jobs: new, perHour: perHour)
        do {
            return try await inserts.submit(request).get()
        } catch let error where !(error is AppError) && jobs.contains(where: { $0.idempotencyKey != nil }) {
            // Two writers raced with the same key (two processes, or two batches in flight at
            // once): neither saw the other's uncommitted job, and the unique index refused the
            // loser's. The winner has committed by now, so a second try finds its job. Trying
            // again is safe because the jobs carry idempotency keys.
            return try await inserts.submit(request).get()
        }
    }

    public func find(id: String) async throws -> Job? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM jobs WHERE id = \(bind: id)").first().map { try JobRow(row: $0).job() }
    }

    public func list(scope: OwnerScope, page: PageRequest) async throws -> [Job] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Self.columns) FROM jobs WHERE id > \(bind: page.after ?? "")"
        if case .owner(let owner) = scope { query += " AND owner_id = \(bind: owner)" }
        query += " ORDER BY id LIMIT \(bind: page.limit + 1)"
        return try await database.sql.raw(query).all().map { try JobRow(row: $0).job() }
    }

    /// Claims the next job for a worker, in one statement. The first `preferences.window`
    /// waiting jobs in fair order (priority, then fair key) are the candidates (on PostgreSQL
    /// they are locked with `SKIP LOCKED`, so concurrent claimers look at different rows);
    /// `ClaimPreferences` says which of them this worker takes.
    public func claim(holder: String, workerID: String? = nil, preferences: ClaimPreferences = .fifo, leaseMillis: Int64,
                      now: Int64) async throws -> Job? {
        try await claim(limit: 1, holder: holder, workerID: workerID, preferences: preferences, leaseMillis: leaseMillis, now: now).first
    }

    /// Claims up to `limit` jobs in one statement (a worker with free slots fills them at once).
    public func claim(limit: Int, holder: String, workerID: String? = nil, preferences: ClaimPreferences = .fifo,
                      leaseMillis: Int64, now: Int64) async throws -> [Job] {
        var candidates: SQLQueryString = "SELECT id, model, created_at, priority, fair_key FROM jobs WHERE state = 'pending' AND run_after <= \(bind: now)"
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
                    filter = " WHERE c.model IS NULL OR c.model = \(bind: loaded) OR c.created_at <= \(bind: now - preferences.swapHoldMillis) OR NOT ("
                        + elsewhere + ")"
                }
            }
        }
        // A join with the chosen ids rather than `WHERE id IN (…)`: the same plan, found with less
        // search while sorting is disabled (below). Planning a claim took 0.35 ms in the IN form
        // and takes 0.28 ms in this one (`pg_stat_statements`, 10,000 jobs end to end; with the
        // values written in, as psql plans them, 1.0–1.5 ms against 0.2–0.3).
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
        // sort all of them on every claim (seen: 14 % of the server's time sorting 10,000 rows
        // per claim). Sorting is disabled for this transaction so the ordered index scan is the
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
                logger: logger)
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
        try await database.sql.raw("""
            UPDATE jobs SET state = 'pending', lease_holder = NULL, lease_expires_at = NULL, run_after = \(bind: now), updated_at = \(bind: now),
                error = 'the worker running it stopped (its lease expired)'
            WHERE state = 'started' AND lease_expires_at < \(bind: now)
            RETURNING id
            """).all().count
    }

    /// Extends the leases of the jobs `ids` that `holder` runs; returns the ids it still holds (a
    /// job missing from the answer was cancelled or reaped). Only the jobs the worker tracks: a
    /// row it leased but no longer runs (its outcome could not be written) must expire and be
    /// reaped, not be kept alive by every heartbeat while the worker is busy with others.
    func heartbeat(holder: String, ids: [String], leaseMillis: Int64, now: Int64) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        var query: SQLQueryString = "UPDATE jobs SET lease_expires_at = \(bind: now + leaseMillis) WHERE lease_holder = \(bind: holder) AND state = 'started' AND id IN ("
        for (index, id) in ids.enumerated() { query += (index == 0 ? "" : ", ") + "\(bind: id)" }
        query += ") RETURNING id"
        let rows = try await database.sql.raw(query).all()
        return Set(try rows.map { try $0.decode(column: "id", as: String.self) })
    }

    /// What a worker's writes about a job must match: its lease holder and the attempt it claimed
    /// (`attempt` is counted up by each claim). A worker whose lease was lost and whose job was
    /// claimed again, even by itself, then changes nothing about the new attempt.
    static func claimToken(holder: String, attempt: Int) -> String { "\(holder)#\(attempt)" }

    /// The end of an attempt, as the worker reports it (`holder`: its claim token).
    enum Completion: Sendable {
        /// `images`: where the result's images were written; they are synced before the row.
        case succeeded(id: String, holder: String, result: String, images: ImageStore, now: Int64)
        /// Back to pending after `retryAt`, or failed for good when it is nil.
        case failed(id: String, holder: String, error: String, retryAt: Int64?, now: Int64)
    }

    /// A successful attempt. The result's images were only written to `images` (see
    /// `ImageStore.writeFile`); the batch makes them durable before it records the success.
    func succeed(id: String, holder: String, attempt: Int, result: JobResult, imagesToSync images: ImageStore, now: Int64) async throws {
        _ = try await completions.submit(.succeeded(id: id, holder: Self.claimToken(holder: holder, attempt: attempt), result: result.storedJSON,
                                                    images: images, now: now))
    }

    /// A failed attempt: back to pending after `retryAt`, or failed for good.
    func fail(id: String, holder: String, attempt: Int, error: String, retryAt: Int64?, now: Int64) async throws {
        _ = try await completions.submit(.failed(id: id, holder: Self.claimToken(holder: holder, attempt: attempt), error: error,
                                                 retryAt: retryAt, now: now))
    }

    /// Records finished attempts, after syncing the images of the successes: one multi-row
    /// UPDATE per outcome (success, retry, failure), in one transaction when there are several.
    /// Each row only changes while the worker still holds the job (a cancel or a reaped lease
    /// wins), so writing a row twice (a batch retried one by one after a failure) changes
    /// nothing the second time.
    static func complete(_ items: [Completion], in database: Database) async throws -> [Bool] {
        /// A finished attempt: the result (success) or the error (failure, retry) as `value`.
        struct Row {
            var id: String, holder: String, value: String, retryAt: Int64, now: Int64
        }
        // No row may point at an image a power cut could still lose.
        var stores: [String: ImageStore] = [:]
        for case .succeeded(_, _, _, let images, _) in items { stores[images.root] = images }
        for images in stores.values { try await images.sync() }
        var succeeded: [Row] = [], retried: [Row] = [], failed: [Row] = []
        // A job is finished when its outcome is written, not when its attempt ended: the image
        // was made durable and the batch waited for its turn in between.
        let written = Timestamp.millis(Date())
        for item in items {
            switch item {
            case .succeeded(let id, let holder, let result, _, let now):
                succeeded.append(Row(id: id, holder: holder, value: result, retryAt: 0, now: max(now, written)))
            case .failed(let id, let holder, let error, let retryAt?, let now):
                retried.append(Row(id: id, holder: holder, value: error, retryAt: retryAt, now: max(now, written)))
            case .failed(let id, let holder, let error, nil, let now):
                failed.append(Row(id: id, holder: holder, value: error, retryAt: 0, now: max(now, written)))
            }
        }
        if database.kind == .postgres && retried.isEmpty && failed.isEmpty {
            // Successes only (the usual case): one prepared statement that commits on its own.
            guard !succeeded.isEmpty else { return [] }
            _ = try await database.postgresExecute(JobStatements.Succeed(ids: succeeded.map(\.id), holders: succeeded.map(\.holder),
                                                                         results: succeeded.map(\.value), times: succeeded.map(\.now)))
            return items.map { _ in true }
        }
        let outcomes: [(rows: [Row], set: SQLQueryString)] = [
            (succeeded, "state = 'success', result = v.value, error = NULL, updated_at = v.now, finished_at = v.now"),
            (retried, "state = 'pending', error = v.value, run_after = v.retry_at, updated_at = v.now"),
            (failed, "state = 'failed', error = v.value, updated_at = v.now, finished_at = v.now"),
        ]
        var statements: [SQLQueryString] = []
        for (rows, set) in outcomes where !rows.isEmpty {
            var v = BulkRows(count: rows.count)
            v.text("id", rows.map(\.id))
            v.text("holder", rows.map(\.holder))
            v.text("value", rows.map(\.value))
            v.bigint("retry_at", rows.map(\.retryAt))
            v.bigint("now", rows.map(\.now))
            statements.append("UPDATE jobs SET " + set + ", lease_holder = NULL, lease_expires_at = NULL FROM " + v.table(for: database.kind)
                + " WHERE jobs.id = v.id AND jobs.lease_holder || '#' || jobs.attempt = v.holder AND jobs.state = 'started'")
        }
        let ready = statements
        if database.kind == .postgres && ready.count == 1 {
            // One outcome: the statement commits on its own, one round trip instead of three,
            // and its arrays are bound by PostgresNIO directly.
            try await database.postgresRun(database.postgresQuery(ready[0]))
        } else {
            try await database.transaction { db in
                for statement in ready { try await db.raw(statement).run() }
            }
        }
        return items.map { _ in true }
    }

    /// Gives a job back to the queue (graceful shutdown) without counting the attempt.
    func release(id: String, holder: String, attempt: Int, now: Int64) async throws {
        try await database.sql.raw("""
            UPDATE jobs SET state = 'pending', attempt = attempt - 1, lease_holder = NULL, lease_expires_at = NULL, updated_at = \(bind: now)
            WHERE id = \(bind: id) AND lease_holder = \(bind: holder) AND attempt = \(bind: attempt) AND state = 'started'
            """).run()
    }

    /// Cancels a job in any state but a final one.
    public func cancel(id: String, now: Int64) async throws -> Job? {
        try await database.sql.raw("""
            UPDATE jobs SET state = 'cancelled', lease_holder = NULL, lease_expires_at = NULL, updated_at = \(bind: now), finished_at = \(bind: now)
            WHERE id = \(bind: id) AND state IN ('pending', 'started')
            """).run()
        return try await find(id: id)
    }

    public struct Stats: Sendable {
        public var pending: Int
        public var started: Int
        public var scheduled: Int
    }

    /// Seed 001's queue stats: running, waiting now, and waiting for a retry time.
    public func stats(now: Int64) async throws -> Stats {
        let row = try await database.sql.raw("""
            SELECT
              SUM(CASE WHEN state = 'started' THEN 1 ELSE 0 END) AS started,
              SUM(CASE WHEN state = 'pending' AND run_after <= \(bind: now) THEN 1 ELSE 0 END) AS pending,
              SUM(CASE WHEN state = 'pending' AND run_after > \(bind: now) THEN 1 ELSE 0 END) AS scheduled
            FROM (SELECT state, run_after FROM jobs WHERE state = 'started'
                  UNION ALL SELECT state, run_after FROM jobs WHERE state = 'pending') AS queue
            """).first()
        func value(_ column: String) -> Int { ((try? row?.decodeNil(column: column)) ?? true) ? 0 : ((try? row?.decode(column: column, as: Int.self)) ?? 0) }
        return Stats(pending: value("pending"), started: value("started"), scheduled: value("scheduled"))
    }
}

extension JobStore {
    /// `claim` for tests that drive the queue without a worker.
    public func claimForTest(holder: String, preferences: ClaimPreferences = .fifo) async throws -> Job? {
        try await claim(holder: holder, preferences: preferences, leaseMillis: 30_000, now: Timestamp.millis(Date()))
    }

    /// `reapExpired` for tests.
    public func reapForTest() async throws -> Int {
        try await reapExpired(now: Timestamp.millis(Date()))
    }
}
