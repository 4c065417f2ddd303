import Core
import Foundation
import SQLKit
import Storage

/// What a bot has done with its updates, kept in the database so a restart neither loses nor
/// repeats one. Polling: every update taken from Telegram is stored in the bot's inbox in the
/// same transaction that moves the offset past it (so Telegram may forget it), and leaves the
/// inbox when its handler has finished; a restart handles what is still there. Webhooks: each
/// delivered `update_id` is claimed once and stored in the same inbox, which the process holding
/// the bot runs.
package struct UpdateLog: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// The offset to ask Telegram for next; nil before the bot's first update.
    package func nextOffset(bot: String) async throws -> Int64? {
        try await database.sql.raw("SELECT next_offset FROM telegram_offsets WHERE bot_id = \(bind: bot)").first()?
            .decode(column: "next_offset", as: Int64.self)
    }

    /// Stores `updates` in the inbox and moves the offset past them, in one transaction: from
    /// then on they survive a crash here, and Telegram may drop them.
    package func accept(bot: String, _ updates: [Update], nextOffset: Int64) async throws {
        let now = Timestamp.millis(Date())
        let payloads = try updates.map { ($0.update_id, String(decoding: try Self.encoder.encode($0), as: UTF8.self)) }
        try await database.transaction { db in
            for (id, payload) in payloads {
                try await db.raw(
                    """
                    INSERT INTO telegram_inbox (bot_id, update_id, payload, received_at)
                    VALUES (\(bind: bot), \(bind: id), \(bind: payload), \(bind: now)) ON CONFLICT DO NOTHING
                    """
                ).run()
            }
            try await db.raw(
                """
                INSERT INTO telegram_offsets (bot_id, next_offset, updated_at) VALUES (\(bind: bot), \(bind: nextOffset), \(bind: now))
                ON CONFLICT (bot_id) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at
                WHERE telegram_offsets.next_offset < excluded.next_offset
                """
            ).run()
        }
    }

    /// Updates taken in and not finished (a stop or crash cut them off), oldest first.
    package func inbox(bot: String, limit: Int = 10_000) async throws -> [Update] {
        try await database.sql.raw(
            """
            SELECT payload FROM telegram_inbox WHERE bot_id = \(bind: bot) ORDER BY update_id LIMIT \(unsafeRaw: String(max(1, limit)))
            """
        ).all().map { row in try Self.decoder.decode(Update.self, from: Data(try row.decode(column: "payload", as: String.self).utf8)) }
    }

    /// The update's handler has finished: it leaves the inbox.
    package func finish(bot: String, updateID: Int64) async throws {
        try await database.sql.raw("DELETE FROM telegram_inbox WHERE bot_id = \(bind: bot) AND update_id = \(bind: updateID)").run()
    }

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()

    /// Telegram stops redelivering long before two days; every thousandth update forgets older ids.
    func forgetOldClaims(bot: String, updateID: Int64, now: Int64, first: Bool) async throws {
        guard first, updateID % 1000 == 0 else { return }
        try await database.sql.raw(
            "DELETE FROM telegram_handled_updates WHERE bot_id = \(bind: bot) AND handled_at < \(bind: now - 2 * 86_400_000)"
        ).run()
    }

    /// A webhook delivery: claims the update id and, the first time, stores the update in the
    /// bot's inbox, in one transaction; the process holding the bot runs it from there. Returns
    /// whether this delivery was the first (Telegram delivers again until it gets a 2xx,
    /// possibly to another process).
    package func deliver(bot: String, _ update: Update) async throws -> Bool {
        let now = Timestamp.millis(Date())
        let payload = String(decoding: try Self.encoder.encode(update), as: UTF8.self)
        let first = try await database.transaction { db in
            let claimed = try await !db.raw(
                """
                INSERT INTO telegram_handled_updates (bot_id, update_id, handled_at)
                VALUES (\(bind: bot), \(bind: update.update_id), \(bind: now)) ON CONFLICT DO NOTHING RETURNING update_id
                """
            ).all().isEmpty
            if claimed {
                try await db.raw(
                    """
                    INSERT INTO telegram_inbox (bot_id, update_id, payload, received_at)
                    VALUES (\(bind: bot), \(bind: update.update_id), \(bind: payload), \(bind: now)) ON CONFLICT DO NOTHING
                    """
                ).run()
            }
            return claimed
        }
        try await forgetOldClaims(bot: bot, updateID: update.update_id, now: now, first: first)
        return first
    }

    /// Forgets everything about a bot's updates (its token changed: a new bot as far as Telegram
    /// knows).
    package func forget(bot: String) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM telegram_offsets WHERE bot_id = \(bind: bot)").run()
            try await db.raw("DELETE FROM telegram_inbox WHERE bot_id = \(bind: bot)").run()
            try await db.raw("DELETE FROM telegram_handled_updates WHERE bot_id = \(bind: bot)").run()
        }
    }
}
