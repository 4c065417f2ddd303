import SQLKit
import Storage

/// Catalog styles an admin has taken out of the studio's /models (`/admin_models hide`): a LoRA
/// that renders badly, or one kept for the GPU fleet's other work. The catalog itself is not
/// touched; a person whose chosen style is hidden gets the default look until they pick another.
package struct StudioHiddenStyles: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    package func all() async throws -> Set<String> {
        Set(
            try await database.sql.raw("SELECT style_key FROM studio_hidden_styles").all().map { try $0.decode(column: "style_key", as: String.self) }
        )
    }

    package func hide(_ key: String, now: Int64) async throws {
        try await database.sql.raw(
            "INSERT INTO studio_hidden_styles (style_key, hidden_at) VALUES (\(bind: key), \(bind: now)) ON CONFLICT DO NOTHING"
        ).run()
    }

    package func show(_ key: String) async throws {
        try await database.sql.raw("DELETE FROM studio_hidden_styles WHERE style_key = \(bind: key)").run()
    }
}
