import Core
import Foundation
import Logging
import SQLKit

/// Applies migrations once each, in order, recording them in `atelier_migrations`. Safe to run from
/// several processes at once: on PostgreSQL a transaction-scoped advisory lock serialises them (the
/// second waits, then finds nothing to do); on SQLite `BEGIN IMMEDIATE` does the same.
package struct Migrator: Sendable {
    /// Arbitrary constant: the advisory lock key all Atelier processes agree on ("ATEL").
    static let advisoryLockKey: Int64 = 0x4154_454C
    let database: Database
    let logger: Logger

    package init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Returns the ids applied by this call (empty when the schema was already current).
    @discardableResult
    package func migrate(_ migrations: [Migration]) async throws -> [String] {
        let ids = migrations.map(\.id)
        precondition(Set(ids).count == ids.count, "duplicate migration id")
        let kind = database.kind
        let schema: String? = {
            if case .postgres(_, let schema) = database.configuration { return schema }
            return nil
        }()
        let applied = try await database.transaction { db -> [String] in
            if kind == .postgres {
                // Another process migrating holds the lock: say so, since waiting for it is the
                // only thing a start does until the lock is free.
                let free = try await db.raw("SELECT pg_try_advisory_xact_lock(\(bind: Self.advisoryLockKey)) AS free").first()
                if (try free?.decode(column: "free", as: Bool.self)) != true {
                    logger.info("waiting for another Atelier process to finish migrating the database")
                    try await db.raw("SELECT pg_advisory_xact_lock(\(bind: Self.advisoryLockKey))").run()
                }
                if let schema {
                    // The name was validated as [A-Za-z][A-Za-z0-9_]*, so it is safe to splice.
                    try await db.raw("CREATE SCHEMA IF NOT EXISTS \(unsafeRaw: schema)").run()
                }
            }
            try await db.raw(
                """
                CREATE TABLE IF NOT EXISTS atelier_migrations (
                    id TEXT PRIMARY KEY,
                    applied_at BIGINT NOT NULL
                )
                """
            ).run()
            let done = Set(
                try await db.raw("SELECT id FROM atelier_migrations").all().map {
                    try $0.decode(column: "id", as: String.self)
                }
            )
            var appliedNow: [String] = []
            for migration in migrations where !done.contains(migration.id) {
                for statement in migration.statements(for: kind) {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                let now = Timestamp.millis(Date())
                try await db.raw("INSERT INTO atelier_migrations (id, applied_at) VALUES (\(bind: migration.id), \(bind: now))").run()
                appliedNow.append(migration.id)
            }
            return appliedNow
        }
        for id in applied { logger.info("applied migration", metadata: ["migration": "\(id)"]) }
        return applied
    }

    /// Ids recorded as applied, in the order they were applied.
    package func appliedIDs() async throws -> [String] {
        try await database.sql.raw("SELECT id FROM atelier_migrations ORDER BY applied_at, id").all().map {
            try $0.decode(column: "id", as: String.self)
        }
    }
}
