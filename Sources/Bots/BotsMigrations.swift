import Storage

/// Tables of the product's bots: the bot instances, and seed 002's photo studio (its `User`,
/// `Model`, `Generation`, `Payment` and `ReferralInvite` with the seed's names and columns, plus
/// what the studio needs around them). Times are BIGINT milliseconds, as everywhere here; the
/// seed's SERIAL ids are SQLite's INTEGER PRIMARY KEY on the embedded database.
package enum BotsMigrations {
    package static let all: [Migration] = [
        Migration(
            "bots/001_instances",
            [
                """
                CREATE TABLE telegram_bots (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    sealed_token TEXT NOT NULL,
                    token_fingerprint TEXT NOT NULL UNIQUE,
                    webhook_secret TEXT NOT NULL,
                    username TEXT,
                    telegram_id BIGINT,
                    admin_ids TEXT NOT NULL,
                    running INTEGER NOT NULL,
                    lease_holder TEXT,
                    lease_expires_at BIGINT,
                    last_error TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX telegram_bots_owner ON telegram_bots (owner_id)",
            ]
        ),
        Migration("bots/002_studio", studio(serial: "INTEGER PRIMARY KEY AUTOINCREMENT"), postgres: studio(serial: "BIGSERIAL PRIMARY KEY")),
        Migration(
            "bots/003_outbox",
            [
                """
                CREATE TABLE telegram_outbox (
                    id TEXT PRIMARY KEY,
                    bot_id TEXT NOT NULL,
                    broadcast_id TEXT NOT NULL,
                    chat_id BIGINT NOT NULL,
                    text TEXT NOT NULL,
                    state TEXT NOT NULL,
                    error TEXT,
                    created_at BIGINT NOT NULL,
                    sent_at BIGINT,
                    UNIQUE (broadcast_id, chat_id)
                )
                """,
                "CREATE INDEX telegram_outbox_pending ON telegram_outbox (bot_id, state, created_at)",
            ]
        ),
        Migration(
            "bots/004_fleet_downloads",
            [
                """
                CREATE TABLE telegram_downloads (
                    id TEXT PRIMARY KEY,
                    bot_id TEXT NOT NULL,
                    chat_id BIGINT NOT NULL,
                    requested_by BIGINT NOT NULL,
                    summary TEXT NOT NULL,
                    state TEXT NOT NULL,
                    status_message_id BIGINT,
                    tickets TEXT,
                    created_at BIGINT NOT NULL,
                    finished_at BIGINT
                )
                """,
                "CREATE INDEX telegram_downloads_open ON telegram_downloads (bot_id, state)",
            ]
        ),
        // The persona an assistant bot answers as (seed 004's BotInstance); NULL: the first one.
        Migration("bots/005_assistant_persona", ["ALTER TABLE telegram_bots ADD COLUMN persona TEXT"]),
        // Catalog styles an admin took out of the studio's /models.
        Migration(
            "bots/006_studio_hidden_styles",
            ["CREATE TABLE studio_hidden_styles (style_key TEXT PRIMARY KEY, hidden_at BIGINT NOT NULL)"]
        ),
    ]

    static func studio(serial: String) -> [String] {
        [
            """
            CREATE TABLE "User" (
                user_id BIGINT PRIMARY KEY,
                username VARCHAR(100),
                first_name VARCHAR(100),
                last_name VARCHAR(100),
                activation_date BIGINT NOT NULL,
                tokens_left INTEGER NOT NULL DEFAULT 0,
                tokens_spent INTEGER NOT NULL DEFAULT 0,
                language_code TEXT,
                referral_code TEXT NOT NULL UNIQUE,
                referred_by BIGINT,
                is_blocked INTEGER NOT NULL DEFAULT 0,
                bot_blocked INTEGER NOT NULL DEFAULT 0,
                style TEXT,
                pending_action TEXT,
                last_active_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE "Model" (
                model_id \(serial),
                user_id BIGINT REFERENCES "User"(user_id),
                name VARCHAR(100) NOT NULL,
                trigger_word VARCHAR(50) NOT NULL,
                status VARCHAR(20) NOT NULL DEFAULT 'training',
                bot_id TEXT NOT NULL,
                training_id TEXT,
                version TEXT,
                weights_url TEXT,
                error TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX model_user ON \"Model\" (user_id)",
            """
            CREATE TABLE "Generation" (
                generation_id \(serial),
                user_id BIGINT REFERENCES "User"(user_id),
                model_id BIGINT REFERENCES "Model"(model_id),
                prompt_text TEXT,
                style TEXT,
                bot_id TEXT NOT NULL,
                chat_id BIGINT NOT NULL,
                request_key TEXT UNIQUE,
                status_message_id BIGINT,
                job_id TEXT UNIQUE,
                tokens INTEGER NOT NULL,
                status TEXT NOT NULL,
                result_url TEXT,
                photo_file_id TEXT,
                error TEXT,
                created_at BIGINT NOT NULL,
                finished_at BIGINT
            )
            """,
            "CREATE INDEX generation_user ON \"Generation\" (user_id, generation_id)",
            "CREATE INDEX generation_open ON \"Generation\" (bot_id, status)",
            """
            CREATE TABLE "Payment" (
                payment_id \(serial),
                user_id BIGINT REFERENCES "User"(user_id),
                date BIGINT NOT NULL,
                amount INTEGER NOT NULL,
                tokens INTEGER NOT NULL,
                currency TEXT NOT NULL,
                provider TEXT NOT NULL,
                external_id TEXT NOT NULL UNIQUE,
                package_id TEXT,
                status TEXT NOT NULL DEFAULT 'paid'
            )
            """,
            "CREATE INDEX payment_date ON \"Payment\" (date)",
            """
            CREATE TABLE "ReferralInvite" (
                invite_id \(serial),
                referrer_id BIGINT REFERENCES "User"(user_id),
                referred_id BIGINT UNIQUE REFERENCES "User"(user_id),
                created_at BIGINT NOT NULL,
                bonus_tokens INTEGER NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE studio_packages (
                id TEXT PRIMARY KEY,
                title TEXT NOT NULL,
                tokens INTEGER NOT NULL,
                price_stars INTEGER NOT NULL,
                price_kopecks INTEGER NOT NULL,
                active INTEGER NOT NULL,
                position INTEGER NOT NULL
            )
            """,
            """
            INSERT INTO studio_packages (id, title, tokens, price_stars, price_kopecks, active, position) VALUES
                ('start', '10', 10, 50, 9900, 1, 1),
                ('pro', '50', 50, 200, 39900, 1, 2),
                ('studio', '200', 200, 700, 129900, 1, 3)
            """,
            """
            CREATE TABLE studio_training_photos (
                user_id BIGINT NOT NULL,
                file_unique_id TEXT NOT NULL,
                file_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                added_at BIGINT NOT NULL,
                PRIMARY KEY (user_id, file_unique_id)
            )
            """,
            """
            CREATE TABLE studio_orders (
                id TEXT PRIMARY KEY,
                user_id BIGINT NOT NULL,
                package_id TEXT NOT NULL,
                amount_kopecks INTEGER NOT NULL,
                tokens INTEGER NOT NULL,
                bot_id TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )
            """,
        ]
    }
}
