import Core
import Foundation
import SQLKit
import Storage

package struct APIKeyStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "id, owner_id, name, prefix, key_hash, created_at, expires_at, last_used_at, revoked_at"

    package func insert(_ key: APIKey) async throws {
        try await database.sql.raw(
            """
            INSERT INTO api_keys (id, owner_id, name, prefix, key_hash, created_at, expires_at, last_used_at, revoked_at)
            VALUES (\(bind: key.id), \(bind: key.ownerID), \(bind: key.name), \(bind: key.prefix), \(bind: key.keyHash),
                    \(bind: key.createdAt), \(bind: key.expiresAt), \(bind: key.lastUsedAt), \(bind: key.revokedAt))
            """
        ).run()
    }

    package func find(prefix: String) async throws -> APIKey? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM api_keys WHERE prefix = \(bind: prefix)")
            .first(decoding: APIKeyRow.self)?.key()
    }

    /// The key if `scope` may see it; another owner's key is indistinguishable from a missing one.
    package func find(id: String, scope: OwnerScope) async throws -> APIKey? {
        let key = try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM api_keys WHERE id = \(bind: id)")
            .first(decoding: APIKeyRow.self)?.key()
        return scope.visible(key, owner: \.ownerID)
    }

    package func list(scope: OwnerScope, page: PageRequest) async throws -> [APIKey] {
        let after = page.after ?? ""
        let query: SQLQueryString
        switch scope {
        case .all:
            query = "SELECT \(unsafeRaw: Self.columns) FROM api_keys WHERE id > \(bind: after) ORDER BY id LIMIT \(bind: page.limit + 1)"
        case .owner(let ownerID):
            query =
                "SELECT \(unsafeRaw: Self.columns) FROM api_keys WHERE owner_id = \(bind: ownerID) AND id > \(bind: after) ORDER BY id LIMIT \(bind: page.limit + 1)"
        }
        return try await database.sql.raw(query).all(decoding: APIKeyRow.self).map { $0.key() }
    }

    package func revoke(id: String, at millis: Int64) async throws {
        try await database.sql.raw("UPDATE api_keys SET revoked_at = \(bind: millis) WHERE id = \(bind: id) AND revoked_at IS NULL").run()
    }

    package func touch(id: String, at millis: Int64) async throws {
        try await database.sql.raw("UPDATE api_keys SET last_used_at = \(bind: millis) WHERE id = \(bind: id)").run()
    }
}
