import Storage

/// Tables owned by the model hub.
public enum HubMigrations {
    public static let all: [Migration] = [
        Migration("hub/001_models", [
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
        ]),
    ]
}
