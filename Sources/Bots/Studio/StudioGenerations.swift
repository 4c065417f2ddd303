import Core
import Foundation
import SQLKit
import Storage

/// One of seed 002's `Generation` rows: a person's image, from the prompt to the photo sent.
package struct StudioGeneration: Sendable, Equatable, Codable {
    package var generation_id: Int64
    package var user_id: Int64
    package var model_id: Int64?
    package var prompt_text: String?
    package var style: String?
    package var bot_id: String
    package var chat_id: Int64
    package var status_message_id: Int64?
    package var job_id: String?
    package var tokens: Int64
    /// `pending` (tokens reserved, not queued yet), `queued` (a job exists), then `success`,
    /// `failed` or `cancelled`.
    package var status: String
    package var result_url: String?
    package var photo_file_id: String?
    package var error: String?
    package var created_at: Int64
    package var finished_at: Int64?

    /// The key of its token reservation and of its job (a retried submit finds the same job).
    package var key: String { "studio-gen-\(generation_id)" }
    package var isOpen: Bool { status == "pending" || status == "queued" }
}

/// The `Generation` table.
package struct StudioGenerations: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = """
        generation_id, user_id, model_id, prompt_text, style, bot_id, chat_id, status_message_id, job_id, tokens, status, result_url,
        photo_file_id, error, created_at, finished_at
        """

    /// Records a generation; nil when `requestKey` (the bot, chat and message it came from) has one
    /// already: a message handled again after a restart makes no second image or charge.
    package func create(
        user: Int64,
        bot: String,
        chat: Int64,
        requestKey: String,
        prompt: String,
        style: String?,
        modelID: Int64?,
        tokens: Int64,
        now: Int64
    ) async throws -> StudioGeneration? {
        try await database.sql.raw(
            """
            INSERT INTO "Generation" (user_id, model_id, prompt_text, style, bot_id, chat_id, request_key, tokens, status, created_at)
            VALUES (\(bind: user), \(bind: modelID), \(bind: prompt), \(bind: style), \(bind: bot), \(bind: chat), \(bind: requestKey),
                \(bind: tokens), 'pending', \(bind: now))
            ON CONFLICT (request_key) DO NOTHING
            RETURNING \(unsafeRaw: Self.columns)
            """
        ).first(decoding: StudioGeneration.self)
    }

    package func find(_ id: Int64) async throws -> StudioGeneration? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM \"Generation\" WHERE generation_id = \(bind: id)")
            .first(decoding: StudioGeneration.self)
    }

    package func queued(_ id: Int64, job: String, statusMessage: Int64?) async throws {
        try await database.sql.raw(
            """
            UPDATE "Generation" SET job_id = \(bind: job), status_message_id = \(bind: statusMessage), status = 'queued'
            WHERE generation_id = \(bind: id) AND status = 'pending'
            """
        ).run()
    }

    /// Open generations of a bot: the watcher follows them to the end (also after a restart).
    package func open(bot: String) async throws -> [StudioGeneration] {
        try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM "Generation" WHERE bot_id = \(bind: bot) AND status IN ('pending', 'queued')
            ORDER BY generation_id LIMIT 500
            """
        ).all(decoding: StudioGeneration.self)
    }

    /// Ends an open generation; false when it had ended already (another process, a retry), so
    /// tokens are settled and the person told once.
    package func finish(_ id: Int64, status: String, error: String?, resultURL: String?, now: Int64) async throws -> Bool {
        try await !database.sql.raw(
            """
            UPDATE "Generation" SET status = \(bind: status), error = \(bind: error), result_url = \(bind: resultURL), finished_at = \(bind: now)
            WHERE generation_id = \(bind: id) AND status IN ('pending', 'queued') RETURNING generation_id
            """
        ).all().isEmpty
    }

    package func setPhoto(_ id: Int64, fileID: String) async throws {
        try await database.sql.raw("UPDATE \"Generation\" SET photo_file_id = \(bind: fileID) WHERE generation_id = \(bind: id)").run()
    }

    /// A person's generations, newest first.
    package func history(user: Int64, offset: Int, limit: Int) async throws -> (items: [StudioGeneration], total: Int) {
        let items = try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM "Generation" WHERE user_id = \(bind: user)
            ORDER BY generation_id DESC LIMIT \(unsafeRaw: String(max(1, min(limit, 50)))) OFFSET \(unsafeRaw: String(max(0, offset)))
            """
        ).all(decoding: StudioGeneration.self)
        let total =
            try await database.sql.raw("SELECT COUNT(*) AS n FROM \"Generation\" WHERE user_id = \(bind: user)").first()?
            .decode(column: "n", as: Int.self) ?? 0
        return (items, total)
    }
}
