import Core
import Foundation
import SQLKit
import Storage

/// Writing new jobs: the fair keys, the idempotency lookups and hourly limits, and the INSERT
/// (see `JobStore.insert(_:perHour:)`, whose concurrent calls arrive here as one batch).
extension JobStore {
    /// Jobs per INSERT statement (see `BulkRows`: on PostgreSQL a dozen array parameters, on
    /// SQLite a VALUES list within its parameter limit).
    static func chunkSize(_ kind: DatabaseKind) -> Int { kind == .postgres ? 500 : 200 }

    static func insert(_ requests: [InsertRequest], into database: Database) async throws -> [Result<[Job], AppError>] {
        // On PostgreSQL, when there is nothing to look up or count first (no idempotency key, no
        // hourly limit) and the jobs fit in one INSERT, the statements run on their own: the
        // INSERT is atomic by itself and carries the NOTIFY, and the read of the fair keys sees
        // the same as it would inside a transaction (each statement takes a new snapshot under
        // READ COMMITTED). Two round trips instead of five (BEGIN, the keys, INSERT, NOTIFY,
        // COMMIT), which were most of an enqueue's cost on the database's side.
        let simple =
            database.kind == .postgres
            && requests.allSatisfy { $0.perHour == 0 && $0.jobs.allSatisfy { $0.job.idempotencyKey == nil } }
            && requests.reduce(0) { $0 + $1.jobs.count } <= chunkSize(database.kind)
        if simple { return try await write(requests, into: database, on: database.sql, direct: true) }
        return try await database.transaction { db in try await write(requests, into: database, on: db, direct: false) }
    }

    /// `insert`'s statements on `db`: a transaction's session, or the pool (see `insert` for when
    /// that is allowed). With `direct` (the pool, on PostgreSQL) the fair keys and the INSERT are
    /// prepared statements (`JobStatements`), bound by PostgresNIO itself.
    private static func write(
        _ requests: [InsertRequest],
        into database: Database,
        on db: any SQLDatabase,
        direct: Bool
    )
        async throws -> [Result<[Job], AppError>]
    {
        try await HourlyLimit.lockOwners(
            Set(requests.filter { $0.perHour > 0 }.flatMap { $0.jobs.map(\.job.ownerID) }),
            database: database,
            in: db
        )
        var heads: [Int: Int64] = [:]
        var nextKey: [String: Int64] = [:]
        var limits: [Int: HourlyLimit] = [:]
        var stored: [Result<[Job], AppError>] = []
        var rows: [NewJob] = []
        for request in requests {
            var result: [Job] = []
            var fresh: [NewJob] = []
            for new in request.jobs {
                let job = new.job
                if let key = job.idempotencyKey {
                    if let existing = try await db.raw(
                        "SELECT \(unsafeRaw: Self.columns) FROM jobs WHERE owner_id = \(bind: job.ownerID) AND idempotency_key = \(bind: key)"
                    )
                    .first().map({ try JobRow(row: $0) }) {
                        result.append(try existing.job())
                        continue
                    }
                    // The same key twice in one batch (a client retrying at once): one job.
                    if let twin = (rows + fresh).first(where: { $0.job.ownerID == job.ownerID && $0.job.idempotencyKey == key }) {
                        result.append(twin.job)
                        continue
                    }
                }
                fresh.append(new)
                result.append(job)
            }
            if let first = fresh.first?.job, request.perHour > 0 {
                var limit = limits[request.perHour] ?? HourlyLimit(perHour: request.perHour)
                let refusal = try await limit.admit(owner: first.ownerID, count: fresh.count, now: first.createdAt, in: db)
                limits[request.perHour] = limit
                if let refusal {
                    stored.append(.failure(refusal))
                    continue
                }
            }
            for index in fresh.indices {
                let job = fresh[index].job
                let lane = "\(job.priority)|\(job.ownerID)"
                if nextKey[lane] == nil {
                    // The queue's head at this priority and the owner's last waiting job, in
                    // one round trip. Written as ORDER BY … LIMIT 1 rather than MIN/MAX: with
                    // stale statistics PostgreSQL plans MIN/MAX as an aggregate over every
                    // waiting row, an ordered LIMIT is an index seek whatever they say.
                    let found: (head: Int64?, last: Int64?)
                    if direct {
                        found =
                            try await database.postgresExecute(JobStatements.FairKeys(priority: job.priority, owner: job.ownerID)).first ?? (nil, nil)
                    } else {
                        let row = try await db.raw(
                            """
                            SELECT (SELECT fair_key FROM jobs WHERE state = 'pending' AND priority = \(bind: job.priority) ORDER BY fair_key LIMIT 1) AS head,
                                   (SELECT fair_key FROM jobs WHERE owner_id = \(bind: job.ownerID) AND state = 'pending' ORDER BY fair_key DESC LIMIT 1) AS last
                            """
                        ).first()
                        found = (try row?.decode(column: "head", as: Int64?.self), try row?.decode(column: "last", as: Int64?.self))
                    }
                    let head = heads[job.priority] ?? found.head ?? 0
                    heads[job.priority] = head
                    let last = found.last
                    nextKey[lane] = max(head, last.map { $0 + 1 } ?? head)
                }
                fresh[index].job.fairKey = nextKey[lane]!
                nextKey[lane]! += 1
            }
            rows += fresh
            // The fresh jobs, now with their fair keys, in the answer.
            let keyed = Dictionary(fresh.map { ($0.job.id, $0.job) }, uniquingKeysWith: { first, _ in first })
            stored.append(.success(result.map { keyed[$0.id] ?? $0 }))
        }
        if direct {
            // One chunk (see `insert`), prepared (see `JobStatements`).
            if !rows.isEmpty {
                _ = try await database.postgresExecute(
                    JobStatements.InsertNotifying(
                        jobs: rows.map(\.job),
                        params: rows.map(\.params),
                        channel: database.channel("jobs")
                    )
                )
            }
            return stored
        }
        let chunkSize = chunkSize(database.kind)
        for start in stride(from: 0, to: rows.count, by: chunkSize) {
            let chunk = rows[start..<min(rows.count, start + chunkSize)].map(\.job)
            let params = rows[start..<min(rows.count, start + chunkSize)].map(\.params)
            var values = BulkRows(count: chunk.count)
            values.text("id", chunk.map(\.id))
            values.text("owner_id", chunk.map(\.ownerID))
            values.text("kind", chunk.map(\.kind))
            values.text("params", params)
            values.optionalText("model", chunk.map(\.params.model))
            values.bigint("priority", chunk.map { Int64($0.priority) })
            values.bigint("max_attempts", chunk.map { Int64($0.maxAttempts) })
            values.optionalText("idempotency_key", chunk.map(\.idempotencyKey))
            values.bigint("run_after", chunk.map(\.runAfter))
            values.bigint("fair_key", chunk.map(\.fairKey))
            values.bigint("created_at", chunk.map(\.createdAt))
            values.bigint("updated_at", chunk.map(\.updatedAt))
            let insert: SQLQueryString = """
                INSERT INTO jobs (id, owner_id, kind, params, model, state, priority, attempt, max_attempts, idempotency_key, run_after,
                                  fair_key, created_at, updated_at)
                SELECT v.id, v.owner_id, v.kind, v.params, v.model, 'pending', v.priority, 0, v.max_attempts, v.idempotency_key, v.run_after,
                       v.fair_key, v.created_at, v.updated_at
                FROM
                """ + values.table(for: database.kind)
            if database.kind == .postgres && start + chunkSize >= rows.count {
                // The last chunk carries the NOTIFY that wakes the workers of every process
                // (delivered when the statement, or the transaction around it, commits).
                let notifying: SQLQueryString =
                    "WITH inserted AS (" + insert + " RETURNING 1) SELECT pg_notify(\(bind: database.channel("jobs")), '')"
                    + " WHERE EXISTS (SELECT 1 FROM inserted)"
                try await db.raw(notifying).run()
            } else {
                try await db.raw(insert).run()
            }
        }
        return stored
    }
}
