import Core
import Foundation
import SQLKit
import Storage

/// What a bot has done with its updates, kept in the database so a restart neither loses nor
/// repeats one: each handled `update_id`, and the offset confirmed to Telegram (every update
/// below it handled). Updates handled past that offset (a chat ahead of a slower one) are the
/// ones a restart gets again from Telegram and skips.
package struct UpdateLog: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// The offset to ask Telegram for next; nil before the bot's first update.
    package func nextOffset(bot: String) async throws -> Int64? {
        try await database.sql.raw("SELECT next_offset FROM telegram_offsets WHERE bot_id = \(bind: bot)").first()?
            .decode(column: "next_offset", as: Int64.self)
    }

    /// Handled update ids at or after `offset`.
    package func handled(bot: String, from offset: Int64) async throws -> Set<Int64> {
        let rows = try await database.sql.raw(
            "SELECT update_id FROM telegram_handled_updates WHERE bot_id = \(bind: bot) AND update_id >= \(bind: offset)"
        ).all()
        return Set(try rows.map { try $0.decode(column: "update_id", as: Int64.self) })
    }

    package func markHandled(bot: String, updateID: Int64) async throws {
        try await database.sql.raw(
            """
            INSERT INTO telegram_handled_updates (bot_id, update_id, handled_at)
            VALUES (\(bind: bot), \(bind: updateID), \(bind: Timestamp.millis(Date()))) ON CONFLICT DO NOTHING
            """
        ).run()
    }

    /// Webhook deliveries: records the update as taken and says whether this call was the first
    /// (Telegram delivers again until it gets a 2xx, possibly to another process).
    package func claim(bot: String, updateID: Int64) async throws -> Bool {
        try await !database.sql.raw(
            """
            INSERT INTO telegram_handled_updates (bot_id, update_id, handled_at)
            VALUES (\(bind: bot), \(bind: updateID), \(bind: Timestamp.millis(Date()))) ON CONFLICT DO NOTHING RETURNING update_id
            """
        ).all().isEmpty
    }

    /// Records that every update below `offset` is handled, and forgets their ids (Telegram will
    /// not send them again once asked with this offset).
    package func commit(bot: String, offset: Int64) async throws {
        let now = Timestamp.millis(Date())
        try await database.sql.raw(
            """
            INSERT INTO telegram_offsets (bot_id, next_offset, updated_at) VALUES (\(bind: bot), \(bind: offset), \(bind: now))
            ON CONFLICT (bot_id) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at
            WHERE telegram_offsets.next_offset < excluded.next_offset
            """
        ).run()
        try await database.sql.raw(
            "DELETE FROM telegram_handled_updates WHERE bot_id = \(bind: bot) AND update_id < \(bind: offset)"
        ).run()
    }
}
