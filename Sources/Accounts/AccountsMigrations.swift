import Storage

/// Tables owned by Accounts. Times are BIGINT milliseconds since 1970.
package enum AccountsMigrations {
    package static let all: [Migration] = [
        Migration(
            "accounts/001_users",
            [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    username TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL,
                    display_name TEXT,
                    email TEXT,
                    disabled BOOLEAN NOT NULL DEFAULT FALSE,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    password_changed_at BIGINT NOT NULL,
                    last_login_at BIGINT
                )
                """
            ]
        ),
        Migration(
            "accounts/002_api_keys",
            [
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    prefix TEXT NOT NULL UNIQUE,
                    key_hash TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    last_used_at BIGINT,
                    revoked_at BIGINT
                )
                """,
                "CREATE INDEX api_keys_owner ON api_keys (owner_id)",
            ]
        ),
    ]
}
