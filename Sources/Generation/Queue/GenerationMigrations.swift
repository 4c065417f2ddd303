import Storage

public enum GenerationMigrations {
    public static let all: [Migration] = [
        Migration("generation/001_jobs", [
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
        ]),
    ]
}
