import Core
import Foundation
import SQLKit
import Storage

/// A person's trained LoRA: seed 002's `Model` row.
package struct StudioModel: Sendable, Equatable, Codable {
    package var model_id: Int64
    package var user_id: Int64?
    package var name: String
    package var trigger_word: String
    /// `training`, `ready` or `error` (the seed's values).
    package var status: String
    package var bot_id: String
    package var training_id: String?
    /// The LoRA's catalog name once ready.
    package var version: String?
    package var weights_url: String?
    package var error: String?
    package var created_at: Int64
    package var updated_at: Int64
}

/// The `Model` table.
package struct StudioModels: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "model_id, user_id, name, trigger_word, status, bot_id, training_id, version, weights_url, error, created_at, updated_at"

    package func create(user: Int64, bot: String, name: String, triggerWord: String, now: Int64) async throws -> StudioModel {
        guard
            let row = try await database.sql.raw(
                """
                INSERT INTO "Model" (user_id, name, trigger_word, status, bot_id, created_at, updated_at)
                VALUES (\(bind: user), \(bind: name), \(bind: triggerWord), 'training', \(bind: bot), \(bind: now), \(bind: now))
                RETURNING \(unsafeRaw: Self.columns)
                """
            ).first(decoding: StudioModel.self)
        else { throw AppError.unavailable("a model could not be recorded") }
        return row
    }

    package func find(_ id: Int64) async throws -> StudioModel? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM \"Model\" WHERE model_id = \(bind: id)").first(decoding: StudioModel.self)
    }

    package func of(user: Int64) async throws -> [StudioModel] {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM \"Model\" WHERE user_id = \(bind: user) ORDER BY model_id")
            .all(decoding: StudioModel.self)
    }

    package func all(limit: Int = 100) async throws -> [StudioModel] {
        try await database.sql.raw(
            "SELECT \(unsafeRaw: Self.columns) FROM \"Model\" ORDER BY model_id DESC LIMIT \(unsafeRaw: String(max(1, min(limit, 500))))"
        ).all(decoding: StudioModel.self)
    }

    package func training(bot: String) async throws -> [StudioModel] {
        try await database.sql.raw(
            "SELECT \(unsafeRaw: Self.columns) FROM \"Model\" WHERE bot_id = \(bind: bot) AND status = 'training' AND training_id IS NOT NULL"
        ).all(decoding: StudioModel.self)
    }

    /// Trainings recorded but never started (the process stopped between the two): after
    /// `before` they will not start by themselves.
    package func stalled(bot: String, before: Int64) async throws -> [StudioModel] {
        try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM "Model"
            WHERE bot_id = \(bind: bot) AND status = 'training' AND training_id IS NULL AND updated_at < \(bind: before)
            """
        ).all(decoding: StudioModel.self)
    }

    package func started(_ id: Int64, training: String, now: Int64) async throws {
        try await database.sql.raw(
            "UPDATE \"Model\" SET training_id = \(bind: training), updated_at = \(bind: now) WHERE model_id = \(bind: id)"
        ).run()
    }

    /// Ends a training once: false when it had ended already.
    package func finish(_ id: Int64, status: String, version: String?, error: String?, now: Int64) async throws -> Bool {
        try await !database.sql.raw(
            """
            UPDATE "Model" SET status = \(bind: status), version = \(bind: version), error = \(bind: error), updated_at = \(bind: now)
            WHERE model_id = \(bind: id) AND status = 'training' RETURNING model_id
            """
        ).all().isEmpty
    }
}
