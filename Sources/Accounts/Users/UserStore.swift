import Core
import Foundation
import SQLKit
import Storage

/// Persistence of users. Plain SQL with bound values; the same statements run on SQLite and PostgreSQL.
package struct UserStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns =
        "id, username, password_hash, role, display_name, email, disabled, created_at, updated_at, password_changed_at, last_login_at"

    package func find(id: String) async throws -> User? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM users WHERE id = \(bind: id)")
            .first(decoding: UserRow.self)?.user()
    }

    package func find(username: String) async throws -> User? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM users WHERE username = \(bind: username.lowercased())")
            .first(decoding: UserRow.self)?.user()
    }

    package func count() async throws -> Int {
        try await database.sql.raw("SELECT COUNT(*) AS n FROM users").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    package func countActiveAdmins() async throws -> Int {
        try await database.sql.raw("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = FALSE")
            .first()?.decode(column: "n", as: Int.self) ?? 0
    }

    package func list(page: PageRequest) async throws -> [User] {
        let after = page.after ?? ""
        return try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM users WHERE id > \(bind: after) ORDER BY id LIMIT \(bind: page.limit + 1)
            """
        ).all(decoding: UserRow.self).map { $0.user() }
    }

    /// Inserts a user; a taken username is a 409.
    package func insert(_ user: User, on db: (any SQLDatabase)? = nil) async throws {
        let db = db ?? database.sql
        try await db.raw(
            """
            INSERT INTO users (id, username, password_hash, role, display_name, email, disabled, created_at, updated_at, password_changed_at, last_login_at)
            VALUES (\(bind: user.id), \(bind: user.username), \(bind: user.passwordHash), \(bind: user.role.rawValue),
                    \(bind: user.displayName), \(bind: user.email), \(bind: user.disabled), \(bind: user.createdAt),
                    \(bind: user.updatedAt), \(bind: user.passwordChangedAt), \(bind: user.lastLoginAt))
            ON CONFLICT (username) DO NOTHING
            """
        ).run()
        guard let stored = try await db.raw("SELECT id FROM users WHERE username = \(bind: user.username)").first(),
            try stored.decode(column: "id", as: String.self) == user.id
        else {
            throw AppError.conflict("username '\(user.username)' is taken; choose another")
        }
    }

    /// Writes every mutable field of `user` back.
    package func update(_ user: User) async throws {
        try await database.sql.raw(
            """
            UPDATE users SET role = \(bind: user.role.rawValue), display_name = \(bind: user.displayName),
                email = \(bind: user.email), disabled = \(bind: user.disabled), password_hash = \(bind: user.passwordHash),
                updated_at = \(bind: user.updatedAt), password_changed_at = \(bind: user.passwordChangedAt),
                last_login_at = \(bind: user.lastLoginAt)
            WHERE id = \(bind: user.id)
            """
        ).run()
    }

    package func recordLogin(id: String, at millis: Int64) async throws {
        try await database.sql.raw("UPDATE users SET last_login_at = \(bind: millis) WHERE id = \(bind: id)").run()
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM users WHERE id = \(bind: id)").run()
    }
}
