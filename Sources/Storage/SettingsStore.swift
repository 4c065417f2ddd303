import Foundation
import SQLKit

/// Small key/value settings the server keeps for itself (the generated JWT signing key, for one),
/// stored in the database so every process on one PostgreSQL agrees on them.
package struct SettingsStore: Sendable {
    package static let migrations = [
        Migration(
            "storage/001_settings",
            [
                "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at BIGINT NOT NULL)"
            ]
        )
    ]

    let database: Database

    package init(database: Database) { self.database = database }

    package func value(_ key: String) async throws -> String? {
        try await database.sql.raw("SELECT value FROM settings WHERE key = \(bind: key)").first()?
            .decode(column: "value", as: String.self)
    }

    /// Stores `make()` under `key` unless a value is already there, and returns the stored value.
    /// Two processes racing here both end up with the first one's value.
    package func valueOrInsert(_ key: String, make: () -> String) async throws -> String {
        if let existing = try await value(key) { return existing }
        let candidate = make()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await database.sql.raw(
            """
            INSERT INTO settings (key, value, updated_at) VALUES (\(bind: key), \(bind: candidate), \(bind: now))
            ON CONFLICT (key) DO NOTHING
            """
        ).run()
        guard let stored = try await value(key) else {
            throw ConfigurationError(setting: key, problem: "could not be stored in the database")
        }
        return stored
    }
}
