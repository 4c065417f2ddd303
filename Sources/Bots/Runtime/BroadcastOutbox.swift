import Core
import Foundation
import SQLKit
import Storage
import Telegram

/// Admin broadcasts as a persisted outbox (`telegram_outbox`): one row per person, sent by the
/// bot's lease holder through the flood limiter. A row is marked `sending` before its message
/// goes and `sent` after, and a row found `sending` after a restart is not sent again: a crash
/// can cost one person the message, never give anyone two. People who blocked the bot are
/// marked `blocked` and skipped.
package struct BroadcastOutbox: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// Queues `text` for every chat in `chats` under `broadcast` (an id of the request: the same
    /// request again, after a restart, queues nothing twice).
    package func enqueue(bot: String, broadcast: String, text: String, chats: [Int64], now: Int64) async throws {
        try await database.transaction { db in
            for start in stride(from: 0, to: chats.count, by: 1000) {
                let chunk = Array(chats[start..<min(start + 1000, chats.count)])
                var values = BulkRows(count: chunk.count)
                values.text("id", chunk.map { _ in ID.make("ob") })
                values.bigint("chat_id", chunk)
                // `WHERE true`: SQLite's parser needs it between INSERT … SELECT and ON CONFLICT.
                try await db.raw(
                    """
                    INSERT INTO telegram_outbox (id, bot_id, broadcast_id, chat_id, text, state, created_at)
                    SELECT v.id, \(bind: bot), \(bind: broadcast), v.chat_id, \(bind: text), 'pending', \(bind: now) FROM
                    """ + values.table(for: database.kind) + " WHERE true ON CONFLICT (broadcast_id, chat_id) DO NOTHING"
                ).run()
            }
        }
    }

    struct Item: Decodable {
        var id: String
        var chat_id: Int64
        var text: String
    }

    func pending(bot: String, limit: Int) async throws -> [Item] {
        try await database.sql.raw(
            """
            SELECT id, chat_id, text FROM telegram_outbox WHERE bot_id = \(bind: bot) AND state = 'pending'
            ORDER BY created_at, id LIMIT \(unsafeRaw: String(limit))
            """
        ).all(decoding: Item.self)
    }

    func mark(_ id: String, state: String, from: String, error: String? = nil, now: Int64) async throws -> Bool {
        try await !database.sql.raw(
            """
            UPDATE telegram_outbox SET state = \(bind: state), error = \(bind: error), sent_at = \(bind: now)
            WHERE id = \(bind: id) AND state = \(bind: from) RETURNING id
            """
        ).all().isEmpty
    }

    /// Rows left `sending` by a process that stopped: they may have been delivered, so they are
    /// not sent again.
    func settleInterrupted(bot: String) async throws {
        try await database.sql.raw(
            "UPDATE telegram_outbox SET state = 'unknown' WHERE bot_id = \(bind: bot) AND state = 'sending'"
        ).run()
    }

    /// Sends the bot's pending rows until cancelled.
    package func run(_ bot: BotContext) async {
        do { try await settleInterrupted(bot: bot.id) } catch {
            bot.logger.error("outbox: settling interrupted rows failed", metadata: ["error": "\(error)"])
        }
        while !Task.isCancelled {
            let items: [Item]
            do { items = try await pending(bot: bot.id, limit: 100) } catch {
                bot.logger.warning("outbox: reading failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(5))
                continue
            }
            if items.isEmpty {
                try? await Task.sleep(for: .seconds(2))
                continue
            }
            // Chats are independent: send in parallel (the limiter keeps the bot's overall rate),
            // a few at a time so one slow chat does not hold the rest.
            await withTaskGroup(of: Void.self) { group in
                var started = 0
                for item in items {
                    if started >= 16 { await group.next() }
                    started += 1
                    group.addTask { await send(item, bot) }
                }
            }
        }
    }

    func send(_ item: Item, _ bot: BotContext) async {
        let now = Timestamp.millis(Date())
        guard (try? await mark(item.id, state: "sending", from: "pending", now: now)) == true else { return }
        do {
            try await bot.messenger.send(item.chat_id, item.text)
            _ = try? await mark(item.id, state: "sent", from: "sending", now: Timestamp.millis(Date()))
        } catch let error as BotAPIError {
            switch error {
            case .blocked, .chatNotFound:
                _ = try? await mark(item.id, state: "blocked", from: "sending", error: "\(error)", now: Timestamp.millis(Date()))
            default:
                _ = try? await mark(item.id, state: "failed", from: "sending", error: "\(error)", now: Timestamp.millis(Date()))
            }
        } catch {
            // Cancelled before the send finished: whether it reached Telegram is unknown.
            _ = try? await mark(
                item.id,
                state: Task.isCancelled ? "unknown" : "failed",
                from: "sending",
                error: "\(error)",
                now: Timestamp.millis(Date())
            )
        }
    }
}
