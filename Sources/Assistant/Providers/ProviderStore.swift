import Accounts
import Core
import Foundation
import SQLKit
import Storage

/// The `llm_providers` table. The gateway reads it through `ProviderDirectory`, which keeps the
/// rows in memory: a chat completion must not pay for a database read.
package struct ProviderStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns =
        "id, owner_id, shared, name, kind, base_url, sealed_key, key_hint, models, priority, enabled, timeout_seconds, context_tokens, private_ok, created_at, updated_at"

    package func all() async throws -> [ProviderRecord] {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM llm_providers ORDER BY priority, name")
            .all(decoding: ProviderRow.self).map { try $0.record() }
    }

    package func list(scope: OwnerScope) async throws -> [ProviderRecord] {
        switch scope {
        case .all: return try await all()
        case .owner(let owner):
            return try await database.sql.raw(
                "SELECT \(unsafeRaw: Self.columns) FROM llm_providers WHERE owner_id = \(bind: owner) ORDER BY priority, name"
            ).all(decoding: ProviderRow.self).map { try $0.record() }
        }
    }

    package func find(id: String) async throws -> ProviderRecord? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM llm_providers WHERE id = \(bind: id)")
            .first(decoding: ProviderRow.self)?.record()
    }

    package func insert(_ provider: ProviderRecord) async throws {
        try await checkName(provider)
        try await database.sql.raw(
            """
            INSERT INTO llm_providers (\(unsafeRaw: Self.columns))
            VALUES (\(bind: provider.id), \(bind: provider.ownerID), \(bind: provider.shared ? 1 : 0), \(bind: provider.name),
                \(bind: provider.kind.rawValue), \(bind: provider.baseURL), \(bind: provider.sealedKey), \(bind: provider.keyHint),
                \(bind: try Self.encode(provider.models)), \(bind: provider.priority), \(bind: provider.enabled ? 1 : 0),
                \(bind: provider.timeoutSeconds), \(bind: provider.contextTokens), \(bind: provider.mayReachPrivate ? 1 : 0), \(bind: provider.createdAt), \(bind: provider.updatedAt))
            """
        ).run()
    }

    package func update(_ provider: ProviderRecord) async throws {
        try await checkName(provider)
        try await database.sql.raw(
            """
            UPDATE llm_providers SET shared = \(bind: provider.shared ? 1 : 0), name = \(bind: provider.name),
                base_url = \(bind: provider.baseURL), sealed_key = \(bind: provider.sealedKey), key_hint = \(bind: provider.keyHint),
                models = \(bind: try Self.encode(provider.models)), priority = \(bind: provider.priority),
                enabled = \(bind: provider.enabled ? 1 : 0), timeout_seconds = \(bind: provider.timeoutSeconds),
                context_tokens = \(bind: provider.contextTokens), private_ok = \(bind: provider.mayReachPrivate ? 1 : 0), updated_at = \(bind: provider.updatedAt)
            WHERE id = \(bind: provider.id)
            """
        ).run()
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM llm_providers WHERE id = \(bind: id)").run()
    }

    /// The newest change, so each process notices another's edits without reading every row.
    package func version() async throws -> String {
        let row = try await database.sql.raw("SELECT COUNT(*) AS n, MAX(updated_at) AS latest FROM llm_providers").first()
        let count = try row?.decode(column: "n", as: Int64.self) ?? 0
        let latest = try row?.decode(column: "latest", as: Int64?.self) ?? 0
        return "\(count):\(latest ?? 0)"
    }

    func checkName(_ provider: ProviderRecord) async throws {
        if try await database.sql.raw(
            "SELECT id FROM llm_providers WHERE name = \(bind: provider.name) AND id <> \(bind: provider.id)"
        ).first() != nil {
            throw AppError.conflict("a provider named '\(provider.name)' exists already (names make the model ids)")
        }
    }

    static func encode(_ models: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(models), as: UTF8.self)
    }
}

struct ProviderRow: Decodable {
    var id: String
    var owner_id: String
    var shared: Int
    var name: String
    var kind: String
    var base_url: String
    var sealed_key: String?
    var key_hint: String?
    var models: String
    var priority: Int
    var enabled: Int
    var timeout_seconds: Int
    var context_tokens: Int?
    var private_ok: Int
    var created_at: Int64
    var updated_at: Int64

    func record() throws -> ProviderRecord {
        guard let kind = ProviderKind(rawValue: kind) else {
            throw AppError.unavailable("provider \(id) has a kind this version does not know; upgrade Atelier")
        }
        var record = ProviderRecord(
            ownerID: owner_id,
            shared: shared != 0,
            name: name,
            baseURL: base_url,
            models: (try? JSONDecoder().decode([String].self, from: Data(models.utf8))) ?? [],
            priority: priority,
            now: created_at
        )
        record.id = id
        record.kind = kind
        record.sealedKey = sealed_key
        record.keyHint = key_hint
        record.enabled = enabled != 0
        record.timeoutSeconds = timeout_seconds
        record.contextTokens = context_tokens
        record.mayReachPrivate = private_ok != 0
        record.updatedAt = updated_at
        return record
    }
}
