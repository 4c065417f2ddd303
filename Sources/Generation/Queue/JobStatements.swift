import PostgresNIO

/// Statements run a few hundred times a second on PostgreSQL, as prepared statements: the
/// enqueue's on its direct path (no idempotency key, no hourly limit; see `JobStore.insert`) and
/// the batch of successes (see `JobStore.complete`). In small batches they spent more time being
/// parsed and planned than running (seen: 0.16 ms planning against 0.06 ms running for the
/// fair-key lookup). The SQL is the same as what SQLKit writes for the other paths (transactions,
/// SQLite) in `JobStore+Insert.swift` and `JobStore.swift`; tests run both paths on PostgreSQL.
enum JobStatements {
    /// The queue's head at a priority and an owner's last waiting job (see `JobStore.write`).
    struct FairKeys: PostgresPreparedStatement {
        static let sql = """
            SELECT (SELECT fair_key FROM jobs WHERE state = 'pending' AND priority = $1 ORDER BY fair_key LIMIT 1),
                   (SELECT fair_key FROM jobs WHERE owner_id = $2 AND state = 'pending' ORDER BY fair_key DESC LIMIT 1)
            """
        typealias Row = (head: Int64?, last: Int64?)
        var priority: Int
        var owner: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(Int64(priority))
            bindings.append(owner)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            try row.decode((Int64?, Int64?).self)
        }
    }

    /// New jobs, one array per column (see `BulkRows`: NULL travels as ""), and the NOTIFY that
    /// wakes the workers of every process when the statement commits.
    struct InsertNotifying: PostgresPreparedStatement {
        static let sql = """
            WITH inserted AS (
                INSERT INTO jobs (id, owner_id, kind, params, model, state, priority, attempt, max_attempts, idempotency_key, run_after,
                                  fair_key, created_at, updated_at)
                SELECT v.id, v.owner_id, v.kind, v.params, NULLIF(v.model, ''), 'pending', v.priority, 0, v.max_attempts,
                       NULLIF(v.idempotency_key, ''), v.run_after, v.fair_key, v.created_at, v.updated_at
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[],
                            $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])
                    AS v(id, owner_id, kind, params, model, priority, max_attempts, idempotency_key, run_after, fair_key, created_at, updated_at)
                RETURNING 1)
            SELECT pg_notify($13, '') WHERE EXISTS (SELECT 1 FROM inserted)
            """
        typealias Row = Int
        var jobs: [Job]
        var params: [String]
        var channel: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 13)
            bindings.append(jobs.map(\.id))
            bindings.append(jobs.map(\.ownerID))
            bindings.append(jobs.map(\.kind))
            bindings.append(params)
            bindings.append(jobs.map { $0.params.model ?? "" })
            bindings.append(jobs.map { Int64($0.priority) })
            bindings.append(jobs.map { Int64($0.maxAttempts) })
            bindings.append(jobs.map { $0.idempotencyKey ?? "" })
            bindings.append(jobs.map(\.runAfter))
            bindings.append(jobs.map(\.fairKey))
            bindings.append(jobs.map(\.createdAt))
            bindings.append(jobs.map(\.updatedAt))
            bindings.append(channel)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int { 1 }
    }

    /// Successful attempts: each row changes only while its worker still holds the job, in the
    /// attempt it claimed (`JobStore.claimToken`).
    ///
    /// The holder is compared in a form no index serves (with the attempt appended; NULL stays
    /// NULL). Planned
    /// once for all executions, the statement otherwise got a plan that looks each row up in
    /// `jobs_running` by holder, where all of a worker's running jobs (and the dead entries of
    /// those it finished) share one key: a scan of hundreds of entries per row. This way the
    /// plan is a primary-key lookup per row on a large table, and a hash join over the running
    /// jobs on an empty one (checked with `plan_cache_mode = force_generic_plan`).
    struct Succeed: PostgresPreparedStatement {
        static let sql = """
            UPDATE jobs SET state = 'success', result = v.value, error = NULL, updated_at = v.now, finished_at = v.now,
                lease_holder = NULL, lease_expires_at = NULL
            FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, holder, value, now)
            WHERE jobs.id = v.id AND jobs.lease_holder || '#' || jobs.attempt = v.holder AND jobs.state = 'started'
            """
        typealias Row = Int
        var ids: [String]
        var holders: [String]
        var results: [String]
        var times: [Int64]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(ids)
            bindings.append(holders)
            bindings.append(results)
            bindings.append(times)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int { 1 }
    }
}
