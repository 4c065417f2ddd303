import Storage

/// Tables of seed 004's secretary: LLM providers and their usage, personas (the seed's anna and
/// marina to start with), chat sessions and their messages, TTS presets, chat widgets and the
/// incoming webhooks' deliveries. Times are BIGINT milliseconds, as everywhere here.
package enum AssistantMigrations {
    package static let all: [Migration] = [
        Migration(
            "assistant/001_providers",
            [
                """
                CREATE TABLE llm_providers (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    shared INTEGER NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,
                    base_url TEXT NOT NULL,
                    sealed_key TEXT,
                    key_hint TEXT,
                    models TEXT NOT NULL,
                    priority INTEGER NOT NULL,
                    enabled INTEGER NOT NULL,
                    timeout_seconds INTEGER NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX llm_providers_owner ON llm_providers (owner_id)",
                """
                CREATE TABLE llm_usage (
                    id TEXT PRIMARY KEY,
                    at BIGINT NOT NULL,
                    owner_id TEXT NOT NULL,
                    key_id TEXT,
                    provider_id TEXT NOT NULL,
                    model TEXT NOT NULL,
                    prompt_tokens BIGINT NOT NULL,
                    completion_tokens BIGINT NOT NULL,
                    status TEXT NOT NULL,
                    duration_ms BIGINT NOT NULL
                )
                """,
                "CREATE INDEX llm_usage_owner ON llm_usage (owner_id, at)",
                "CREATE INDEX llm_usage_key ON llm_usage (key_id, at)",
                """
                CREATE TABLE llm_limits (
                    subject_id TEXT PRIMARY KEY,
                    requests_per_minute INTEGER,
                    monthly_tokens BIGINT,
                    updated_at BIGINT NOT NULL
                )
                """,
            ]
        ),
        Migration(
            "assistant/002_personas_and_chats",
            personasAndChats(serial: "INTEGER PRIMARY KEY AUTOINCREMENT"),
            postgres: personasAndChats(serial: "BIGSERIAL PRIMARY KEY")
        ),
        Migration(
            "assistant/003_presets_widgets_webhooks",
            [
                """
                CREATE TABLE tts_presets (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    voice TEXT NOT NULL,
                    speed_percent INTEGER NOT NULL,
                    pitch INTEGER,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    UNIQUE (owner_id, name)
                )
                """,
                """
                CREATE TABLE chat_widgets (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    persona TEXT NOT NULL,
                    allowed_origins TEXT NOT NULL,
                    key_prefix TEXT NOT NULL UNIQUE,
                    key_hash TEXT NOT NULL,
                    enabled INTEGER NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX chat_widgets_owner ON chat_widgets (owner_id)",
                """
                CREATE TABLE incoming_webhooks (
                    service TEXT NOT NULL,
                    delivery_id TEXT NOT NULL,
                    event TEXT NOT NULL,
                    summary TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    received_at BIGINT NOT NULL,
                    PRIMARY KEY (service, delivery_id)
                )
                """,
            ]
        ),
        Migration("assistant/004_prompt_writer", [PersonaSeeds.insert(PersonaSeeds.promptWriter)]),
        // The model's context window, so a conversation is trimmed to what the upstream takes.
        Migration("assistant/005_provider_context", ["ALTER TABLE llm_providers ADD COLUMN context_tokens INTEGER"]),
        // Requests a minute per key and account, counted where every process sees them.
        Migration(
            "assistant/006_rate_counts",
            [
                """
                CREATE TABLE llm_rate_counts (
                    subject_id TEXT NOT NULL,
                    minute BIGINT NOT NULL,
                    requests INTEGER NOT NULL,
                    PRIMARY KEY (subject_id, minute)
                )
                """
            ]
        ),
        // Whether a provider may reach private addresses: its owner's, decided when an admin sets
        // its URL. Providers admins own already keep the LAN they were set up for.
        Migration(
            "assistant/007_provider_private",
            [
                "ALTER TABLE llm_providers ADD COLUMN private_ok INTEGER NOT NULL DEFAULT 0",
                "UPDATE llm_providers SET private_ok = 1 WHERE owner_id IN (SELECT id FROM users WHERE role = 'admin')",
            ]
        ),
    ]

    static func personasAndChats(serial: String) -> [String] {
        [
            """
            CREATE TABLE assistant_personas (
                id TEXT PRIMARY KEY,
                owner_id TEXT NOT NULL,
                name TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                system_prompt TEXT NOT NULL,
                voice TEXT NOT NULL,
                language TEXT NOT NULL,
                provider TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            PersonaSeeds.insert(PersonaSeeds.anna),
            PersonaSeeds.insert(PersonaSeeds.marina),
            """
            CREATE TABLE chat_sessions (
                id TEXT PRIMARY KEY,
                owner_id TEXT NOT NULL,
                persona TEXT NOT NULL,
                title TEXT NOT NULL,
                source TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX chat_sessions_owner ON chat_sessions (owner_id, updated_at)",
            "CREATE INDEX chat_sessions_source ON chat_sessions (owner_id, source, persona)",
            """
            CREATE TABLE chat_messages (
                id \(serial),
                session_id TEXT NOT NULL,
                role TEXT NOT NULL,
                content TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX chat_messages_session ON chat_messages (session_id, id)",
        ]
    }
}
