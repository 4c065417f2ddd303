import Foundation
import SQLKit
import Storage

/// Photos (or one zip) a person has sent for their next training, kept in the database so an
/// album that arrives as several updates, or a restart, loses none.
package struct StudioTrainingPhotos: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    package struct Item: Sendable, Equatable, Decodable {
        package var file_id: String
        /// `photo` or `zip`.
        package var kind: String
    }

    /// Adds one file (the same photo twice counts once); returns how many there are now.
    package func add(user: Int64, fileID: String, uniqueID: String, kind: String, now: Int64) async throws -> Int {
        try await database.sql.raw(
            """
            INSERT INTO studio_training_photos (user_id, file_unique_id, file_id, kind, added_at)
            VALUES (\(bind: user), \(bind: uniqueID), \(bind: fileID), \(bind: kind), \(bind: now)) ON CONFLICT DO NOTHING
            """
        ).run()
        return try await count(user: user)
    }

    package func count(user: Int64) async throws -> Int {
        try await database.sql.raw("SELECT COUNT(*) AS n FROM studio_training_photos WHERE user_id = \(bind: user)").first()?
            .decode(column: "n", as: Int.self) ?? 0
    }

    package func items(user: Int64) async throws -> [Item] {
        try await database.sql.raw(
            "SELECT file_id, kind FROM studio_training_photos WHERE user_id = \(bind: user) ORDER BY added_at, file_unique_id"
        ).all(decoding: Item.self)
    }

    package func clear(user: Int64) async throws {
        try await database.sql.raw("DELETE FROM studio_training_photos WHERE user_id = \(bind: user)").run()
    }
}
