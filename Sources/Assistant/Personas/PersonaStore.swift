import Core
import Foundation
import SQLKit
import Storage

/// The `assistant_personas` table. Personas are shared (every caller may talk to every persona);
/// only admins change them.
package struct PersonaStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "id, owner_id, name, display_name, system_prompt, voice, language, provider, created_at, updated_at"

    package func all() async throws -> [Persona] {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM assistant_personas ORDER BY name").all(decoding: Persona.self)
    }

    package func find(name: String) async throws -> Persona? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM assistant_personas WHERE name = \(bind: name)")
            .first(decoding: Persona.self)
    }

    package func insert(_ persona: Persona) async throws {
        if try await find(name: persona.name) != nil { throw AppError.conflict("a persona named '\(persona.name)' exists already") }
        try await database.sql.raw(
            """
            INSERT INTO assistant_personas (\(unsafeRaw: Self.columns))
            VALUES (\(bind: persona.id), \(bind: persona.owner_id), \(bind: persona.name), \(bind: persona.display_name),
                \(bind: persona.system_prompt), \(bind: persona.voice), \(bind: persona.language), \(bind: persona.provider),
                \(bind: persona.created_at), \(bind: persona.updated_at))
            """
        ).run()
    }

    package func update(_ persona: Persona) async throws {
        try await database.sql.raw(
            """
            UPDATE assistant_personas SET display_name = \(bind: persona.display_name), system_prompt = \(bind: persona.system_prompt),
                voice = \(bind: persona.voice), language = \(bind: persona.language), provider = \(bind: persona.provider),
                updated_at = \(bind: persona.updated_at)
            WHERE id = \(bind: persona.id)
            """
        ).run()
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM assistant_personas WHERE id = \(bind: id)").run()
    }

    package func version() async throws -> String {
        let row = try await database.sql.raw("SELECT COUNT(*) AS n, MAX(updated_at) AS latest FROM assistant_personas").first()
        let count = try row?.decode(column: "n", as: Int64.self) ?? 0
        let latest = try row?.decode(column: "latest", as: Int64?.self) ?? 0
        return "\(count):\(latest ?? 0)"
    }
}
