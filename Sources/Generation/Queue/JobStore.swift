import Accounts
import Core
import Foundation
import PostgresKit
import SQLKit
import Storage

/// The jobs table, which is the queue. Claiming is one statement: on PostgreSQL the candidate row
/// is locked with `FOR UPDATE SKIP LOCKED`, so concurrent processes never claim the same job and
/// never wait on each other; on SQLite the single writer makes the UPDATE atomic.
package struct JobStore: Sendable {
    let database: Database
    /// Concurrent enqueues are written together (see `GroupCommit`).
    let inserts: GroupCommit<InsertRequest, Result<[Job], AppError>>
    /// Finished attempts of concurrent jobs are written together.
    let completions: GroupCommit<Completion, Bool>

    package init(database: Database) {
        self.database = database
        // On PostgreSQL two batches of each are in flight: while one waits for its round trips and
        // commit, the next is written (fair keys of an owner's jobs in the two may then tie; `id`
        // orders them). SQLite has one writer, so a second batch would only wait for the lock.
        inserts = GroupCommit(flushers: database.kind == .postgres ? 2 : 1) { requests in try await Self.insert(requests, into: database) }
        completions = GroupCommit(maxBatch: 256, flushers: database.kind == .postgres ? 2 : 1) { items in try await Self.complete(items, in: database)
        }
    }

    static let columns =
        "id, owner_id, kind, params, state, priority, attempt, max_attempts, idempotency_key, result, error, run_after, lease_holder, lease_expires_at, created_at, updated_at, started_at, finished_at, worker_id, fair_key"

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

    /// Whether `owner` has a job with this idempotency key.
    package func exists(owner: String, idempotencyKey: String) async throws -> Bool {
        try await database.sql.raw(
            "SELECT id FROM jobs WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: idempotencyKey) LIMIT 1"
        ).first() != nil
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
    package func insert(_ jobs: [Job], perHour: Int = 0) async throws -> [Job] {
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

    package func find(id: String) async throws -> Job? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM jobs WHERE id = \(bind: id)").first().map { try JobRow(row: $0).job() }
    }

    package func list(scope: OwnerScope, page: PageRequest) async throws -> [Job] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Self.columns) FROM jobs WHERE id > \(bind: page.after ?? "")"
        if case .owner(let owner) = scope { query += " AND owner_id = \(bind: owner)" }
        query += " ORDER BY id LIMIT \(bind: page.limit + 1)"
        return try await database.sql.raw(query).all().map { try JobRow(row: $0).job() }
    }

    /// Cancels a job in any state but a final one.
    package func cancel(id: String, now: Int64) async throws -> Job? {
        try await database.sql.raw(
            """
            UPDATE jobs SET state = 'cancelled', lease_holder = NULL, lease_expires_at = NULL, updated_at = \(bind: now), finished_at = \(bind: now)
            WHERE id = \(bind: id) AND state IN ('pending', 'started')
            """
        ).run()
        return try await find(id: id)
    }

    /// About how many waiting jobs a worker takes before this one: those ahead of it in the
    /// claim order (priority, then fair key, then id; the scheduler may still move an overdue job
    /// forward), counted up to `cap` so a long queue costs a bounded read.
    package func ahead(of job: Job, cap: Int = 1000) async throws -> Int {
        guard job.state == .pending else { return 0 }
        let row = try await database.sql.raw(
            """
            SELECT COUNT(*) AS n FROM (SELECT 1 FROM jobs WHERE state = 'pending' AND (priority > \(bind: job.priority)
                OR (priority = \(bind: job.priority) AND (fair_key < \(bind: job.fairKey)
                OR (fair_key = \(bind: job.fairKey) AND id < \(bind: job.id))))) LIMIT \(unsafeRaw: String(max(1, cap)))) AS ahead
            """
        ).first()
        return try row?.decode(column: "n", as: Int.self) ?? 0
    }

    package struct Stats: Sendable {
        package var pending: Int
        package var started: Int
        package var scheduled: Int
    }

    /// Seed 001's queue stats: running, waiting now, and waiting for a retry time.
    package func stats(now: Int64) async throws -> Stats {
        let row = try await database.sql.raw(
            """
            SELECT
              SUM(CASE WHEN state = 'started' THEN 1 ELSE 0 END) AS started,
              SUM(CASE WHEN state = 'pending' AND run_after <= \(bind: now) THEN 1 ELSE 0 END) AS pending,
              SUM(CASE WHEN state = 'pending' AND run_after > \(bind: now) THEN 1 ELSE 0 END) AS scheduled
            FROM (SELECT state, run_after FROM jobs WHERE state = 'started'
                  UNION ALL SELECT state, run_after FROM jobs WHERE state = 'pending') AS queue
            """
        ).first()
        func value(_ column: String) -> Int {
            ((try? row?.decodeNil(column: column)) ?? true) ? 0 : ((try? row?.decode(column: column, as: Int.self)) ?? 0)
        }
        return Stats(pending: value("pending"), started: value("started"), scheduled: value("scheduled"))
    }
}
