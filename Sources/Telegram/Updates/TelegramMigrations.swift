import Storage

/// Tables of the Bot API platform: the updates a bot has taken from Telegram and not finished
/// (its inbox), the offset it has confirmed, and the webhook updates it has handled.
package enum TelegramMigrations {
    package static let all: [Migration] = [
        Migration(
            "telegram/001_updates",
            [
                """
                CREATE TABLE telegram_offsets (
                    bot_id TEXT PRIMARY KEY,
                    next_offset BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE telegram_handled_updates (
                    bot_id TEXT NOT NULL,
                    update_id BIGINT NOT NULL,
                    handled_at BIGINT NOT NULL,
                    PRIMARY KEY (bot_id, update_id)
                )
                """,
            ]
        ),
        Migration(
            "telegram/002_inbox",
            [
                """
                CREATE TABLE telegram_inbox (
                    bot_id TEXT NOT NULL,
                    update_id BIGINT NOT NULL,
                    payload TEXT NOT NULL,
                    received_at BIGINT NOT NULL,
                    PRIMARY KEY (bot_id, update_id)
                )
                """
            ]
        ),
    ]
}
