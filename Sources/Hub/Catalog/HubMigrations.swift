import Storage

/// Tables owned by the model hub.
package enum HubMigrations {
    package static let all: [Migration] = [
        Migration(
            "hub/001_models",
            [
                """
                CREATE TABLE models (
                    id TEXT PRIMARY KEY,
                    key TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    base_model TEXT,
                    version_name TEXT,
                    path TEXT NOT NULL,
                    vae_path TEXT,
                    default_negative TEXT,
                    default_weight DOUBLE PRECISION,
                    trigger_words TEXT NOT NULL DEFAULT '[]',
                    description TEXT,
                    civitai_model_id BIGINT,
                    civitai_version_id BIGINT,
                    hf_repo TEXT,
                    hf_revision TEXT,
                    hf_path TEXT,
                    sha256 TEXT,
                    size_bytes BIGINT,
                    status TEXT NOT NULL,
                    source TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX models_sha256 ON models (sha256)",
                "CREATE INDEX models_kind ON models (kind)",
            ]
        ),
        Migration(
            "hub/002_downloads",
            [
                """
                CREATE TABLE downloads (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    ref TEXT NOT NULL,
                    layout TEXT,
                    kind TEXT,
                    status TEXT NOT NULL,
                    total_bytes BIGINT,
                    received_bytes BIGINT NOT NULL DEFAULT 0,
                    files TEXT NOT NULL DEFAULT '[]',
                    error TEXT,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    idempotency_key TEXT,
                    lease_holder TEXT,
                    lease_expires_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    started_at BIGINT,
                    finished_at BIGINT,
                    UNIQUE (owner_id, idempotency_key)
                )
                """,
                "CREATE INDEX downloads_status ON downloads (status, created_at)",
                "CREATE INDEX downloads_owner ON downloads (owner_id, id)",
            ]
        ),
        Migration(
            "hub/003_fleet_nodes",
            [
                """
                CREATE TABLE fleet_nodes (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    url TEXT NOT NULL,
                    sealed_token TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    last_seen_at BIGINT,
                    last_status TEXT
                )
                """
            ]
        ),
    ]
}
