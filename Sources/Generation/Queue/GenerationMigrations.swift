import Storage

package enum GenerationMigrations {
    package static let all: [Migration] = [
        Migration(
            "generation/001_jobs",
            [
                """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    params TEXT NOT NULL,
                    state TEXT NOT NULL,
                    priority INTEGER NOT NULL DEFAULT 0,
                    attempt INTEGER NOT NULL DEFAULT 0,
                    max_attempts INTEGER NOT NULL DEFAULT 3,
                    idempotency_key TEXT,
                    result TEXT,
                    error TEXT,
                    run_after BIGINT NOT NULL,
                    lease_holder TEXT,
                    lease_expires_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    started_at BIGINT,
                    finished_at BIGINT,
                    UNIQUE (owner_id, idempotency_key)
                )
                """,
                "CREATE INDEX jobs_claim ON jobs (state, priority, created_at)",
                "CREATE INDEX jobs_owner ON jobs (owner_id, id)",
            ]
        ),
        // Workers (a backend endpoint, its concurrency and models), the model column the
        // scheduler matches on, and the fair-queue key.
        Migration(
            "generation/002_workers",
            [
                "ALTER TABLE jobs ADD COLUMN model TEXT",
                "ALTER TABLE jobs ADD COLUMN worker_id TEXT",
                "ALTER TABLE jobs ADD COLUMN fair_key BIGINT NOT NULL DEFAULT 0",
                "CREATE INDEX jobs_fair_queue ON jobs (state, priority DESC, fair_key)",
                "CREATE INDEX jobs_owner_pending ON jobs (owner_id, state, fair_key)",
                """
                CREATE TABLE workers (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    backend TEXT NOT NULL,
                    endpoint TEXT NOT NULL,
                    sealed_token TEXT,
                    concurrency INTEGER NOT NULL,
                    models TEXT NOT NULL,
                    options TEXT NOT NULL,
                    node_id TEXT,
                    enabled INTEGER NOT NULL,
                    loaded_model TEXT,
                    lease_holder TEXT,
                    lease_expires_at BIGINT,
                    last_error TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
            ]
        ),
        // Partial indexes: only waiting jobs are in the queue's indexes and only running ones in
        // the lease index, so a job's later updates (started, success) do not add entries to
        // them, and every queue lookup is an index-order scan of exactly the rows it wants.
        // `jobs_pending` ends with `id`, the claim's last sort key, so no plan needs a sort.
        Migration(
            "generation/003_partial_indexes",
            partialIndexes,
            postgres: partialIndexes + [
                // Most jobs have no idempotency key: only keyed ones need an entry (SQLite cannot drop
                // a table's UNIQUE constraint without copying the table, so it keeps its index).
                "ALTER TABLE jobs DROP CONSTRAINT jobs_owner_id_idempotency_key_key",
                "CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
            ]
        ),
        // The queue's identifiers (job, owner, lease holder, worker ids and idempotency keys) are
        // compared byte by byte on PostgreSQL, as SQLite's BINARY collation always did. Under the
        // database's default collation (a libc locale, even C.UTF-8) every index comparison of
        // these keys went through strcoll; a job inserts nine index entries over its three row
        // versions. Bytewise order also makes `ORDER BY id` pages the same on both databases.
        // (PostgreSQL rebuilds the indexes on these columns; the rows are not rewritten.)
        Migration(
            "generation/004_identifiers_collate_c",
            [],
            postgres: [
                """
                ALTER TABLE jobs
                    ALTER COLUMN id TYPE TEXT COLLATE "C",
                    ALTER COLUMN owner_id TYPE TEXT COLLATE "C",
                    ALTER COLUMN lease_holder TYPE TEXT COLLATE "C",
                    ALTER COLUMN worker_id TYPE TEXT COLLATE "C",
                    ALTER COLUMN idempotency_key TYPE TEXT COLLATE "C"
                """
            ]
        ),
    ]

    static let partialIndexes = [
        "DROP INDEX jobs_claim",
        "DROP INDEX jobs_fair_queue",
        "DROP INDEX jobs_owner_pending",
        "CREATE INDEX jobs_pending ON jobs (priority DESC, fair_key, id) WHERE state = 'pending'",
        "CREATE INDEX jobs_owner_waiting ON jobs (owner_id, fair_key) WHERE state = 'pending'",
        "CREATE INDEX jobs_running ON jobs (lease_holder, lease_expires_at) WHERE state = 'started'",
    ]
}
