import Core
import Foundation
import SQLKit
import Storage

/// The model catalog table.
package struct CatalogStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns =
        "id, key, name, kind, base_model, version_name, path, vae_path, default_negative, default_weight, trigger_words, description, civitai_model_id, civitai_version_id, hf_repo, hf_revision, hf_path, sha256, size_bytes, status, source, created_at, updated_at"

    package func find(key: String) async throws -> CatalogEntry? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM models WHERE key = \(bind: key)")
            .first(decoding: CatalogRow.self)?.entry()
    }

    package func find(id: String) async throws -> CatalogEntry? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM models WHERE id = \(bind: id)")
            .first(decoding: CatalogRow.self)?.entry()
    }

    /// Entries with this content hash whose file is on disk.
    package func available(sha256: String) async throws -> [CatalogEntry] {
        try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM models WHERE sha256 = \(bind: sha256.lowercased()) AND status = 'available'
            """
        ).all(decoding: CatalogRow.self).map { $0.entry() }
    }

    package func list(kind: ModelKind? = nil, page: PageRequest) async throws -> [CatalogEntry] {
        let after = page.after ?? ""
        if let kind {
            return try await database.sql.raw(
                """
                SELECT \(unsafeRaw: Self.columns) FROM models WHERE kind = \(bind: kind.rawValue) AND id > \(bind: after)
                ORDER BY id LIMIT \(bind: page.limit + 1)
                """
            ).all(decoding: CatalogRow.self).map { $0.entry() }
        }
        return try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM models WHERE id > \(bind: after) ORDER BY id LIMIT \(bind: page.limit + 1)
            """
        ).all(decoding: CatalogRow.self).map { $0.entry() }
    }

    /// The newest available entry of this kind pulled from one file of a Hugging Face repository.
    package func available(hfRepo: String, kind: ModelKind) async throws -> CatalogEntry? {
        try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM models WHERE hf_repo = \(bind: hfRepo) AND kind = \(bind: kind.rawValue)
            AND hf_path IS NOT NULL AND status = 'available' ORDER BY updated_at DESC LIMIT 1
            """
        ).first(decoding: CatalogRow.self)?.entry()
    }

    package func find(path: String) async throws -> CatalogEntry? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM models WHERE path = \(bind: path)")
            .first(decoding: CatalogRow.self)?.entry()
    }

    /// Inserts the entry, or replaces the one with the same id. A key taken by another entry is a 409.
    package func upsert(_ entry: CatalogEntry) async throws {
        let row = CatalogRow(entry)
        try await database.transaction { db in
            if let other = try await db.raw("SELECT id FROM models WHERE key = \(bind: row.key)").first(),
                try other.decode(column: "id", as: String.self) != row.id
            {
                throw AppError.conflict("a catalog entry named '\(row.key)' exists already; choose another key")
            }
            try await db.raw("DELETE FROM models WHERE id = \(bind: row.id)").run()
            try await db.insert(into: "models").model(row).run()
        }
    }

    /// `base`, or `base-2`, `base-3`… whichever is free (or already `id`'s).
    package func availableKey(_ base: String, for id: String) async throws -> String {
        var candidate = base
        var counter = 1
        while let existing = try await find(key: candidate), existing.id != id {
            counter += 1
            candidate = "\(base)-\(counter)"
        }
        return candidate
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM models WHERE id = \(bind: id)").run()
    }
}
