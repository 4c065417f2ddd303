import Accounts
import Core
import Foundation
import SQLKit
import Storage

/// The `telegram_bots` table. A process runs a bot only while it holds the bot's lease (as GPU
/// workers do), so with several processes on one PostgreSQL each bot polls from exactly one,
/// and moves to another when that one stops renewing.
package struct BotStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = """
        id, owner_id, name, kind, mode, sealed_token, token_fingerprint, webhook_secret, username, telegram_id, admin_ids,
        running, lease_holder, lease_expires_at, last_error, created_at, updated_at, persona
        """

    package func list(scope: OwnerScope) async throws -> [BotRecord] {
        let rows: [BotRow]
        switch scope {
        case .all:
            rows = try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM telegram_bots ORDER BY name").all(decoding: BotRow.self)
        case .owner(let owner):
            rows = try await database.sql.raw(
                "SELECT \(unsafeRaw: Self.columns) FROM telegram_bots WHERE owner_id = \(bind: owner) ORDER BY name"
            ).all(decoding: BotRow.self)
        }
        return try rows.map { try $0.record() }
    }

    package func find(id: String) async throws -> BotRecord? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM telegram_bots WHERE id = \(bind: id)")
            .first(decoding: BotRow.self)?.record()
    }

    /// Bots an admin asked to run.
    package func wanted() async throws -> [BotRecord] {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM telegram_bots WHERE running = 1 ORDER BY id")
            .all(decoding: BotRow.self).map { try $0.record() }
    }

    package func insert(_ bot: BotRecord) async throws {
        if try await database.sql.raw("SELECT id FROM telegram_bots WHERE name = \(bind: bot.name)").first() != nil {
            throw AppError.conflict("a bot named '\(bot.name)' exists already")
        }
        if try await database.sql.raw("SELECT id FROM telegram_bots WHERE token_fingerprint = \(bind: bot.tokenFingerprint)").first() != nil {
            throw AppError.conflict("this token is registered already (one bot, one instance: Telegram answers 409 to a second poller)")
        }
        try await database.sql.raw(
            """
            INSERT INTO telegram_bots (id, owner_id, name, kind, mode, sealed_token, token_fingerprint, webhook_secret, username, telegram_id,
                admin_ids, running, created_at, updated_at, persona)
            VALUES (\(bind: bot.id), \(bind: bot.ownerID), \(bind: bot.name), \(bind: bot.kind.rawValue), \(bind: bot.mode.rawValue),
                \(bind: bot.sealedToken), \(bind: bot.tokenFingerprint), \(bind: bot.webhookSecret), \(bind: bot.username),
                \(bind: bot.telegramID), \(bind: try Self.encode(bot.adminIDs)), \(bind: bot.running ? 1 : 0), \(bind: bot.createdAt),
                \(bind: bot.updatedAt), \(bind: bot.persona))
            """
        ).run()
    }

    /// Saves the editable fields; a changed `updated_at` makes the running process restart the bot.
    package func update(_ bot: BotRecord, now: Int64) async throws {
        if try await database.sql.raw(
            "SELECT id FROM telegram_bots WHERE token_fingerprint = \(bind: bot.tokenFingerprint) AND id <> \(bind: bot.id)"
        ).first() != nil {
            throw AppError.conflict("this token is registered already for another bot")
        }
        if try await database.sql.raw("SELECT id FROM telegram_bots WHERE name = \(bind: bot.name) AND id <> \(bind: bot.id)").first() != nil {
            throw AppError.conflict("a bot named '\(bot.name)' exists already")
        }
        try await database.sql.raw(
            """
            UPDATE telegram_bots SET name = \(bind: bot.name), mode = \(bind: bot.mode.rawValue), sealed_token = \(bind: bot.sealedToken),
                token_fingerprint = \(bind: bot.tokenFingerprint), admin_ids = \(bind: try Self.encode(bot.adminIDs)),
                username = \(bind: bot.username), telegram_id = \(bind: bot.telegramID), persona = \(bind: bot.persona),
                updated_at = \(bind: now)
            WHERE id = \(bind: bot.id)
            """
        ).run()
    }

    package func setRunning(id: String, _ running: Bool, now: Int64) async throws {
        try await database.sql.raw(
            "UPDATE telegram_bots SET running = \(bind: running ? 1 : 0), last_error = NULL, updated_at = \(bind: now) WHERE id = \(bind: id)"
        ).run()
    }

    /// Stops a bot that cannot run, with why, in one statement: a reader never sees it stopped
    /// without its reason.
    package func stopped(id: String, error: String, now: Int64) async throws {
        try await database.sql.raw(
            "UPDATE telegram_bots SET running = 0, last_error = \(bind: error), updated_at = \(bind: now) WHERE id = \(bind: id)"
        ).run()
    }

    package func setIdentity(id: String, username: String?, telegramID: Int64) async throws {
        try await database.sql.raw(
            "UPDATE telegram_bots SET username = \(bind: username), telegram_id = \(bind: telegramID) WHERE id = \(bind: id)"
        ).run()
    }

    /// Records why a bot stopped (a bad token, a webhook conflict); nil clears it.
    package func setError(id: String, _ error: String?) async throws {
        try await database.sql.raw("UPDATE telegram_bots SET last_error = \(bind: error) WHERE id = \(bind: id)").run()
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM telegram_bots WHERE id = \(bind: id)").run()
    }

    /// Takes or renews the lease; true when `holder` holds it now.
    package func lease(id: String, holder: String, leaseMillis: Int64, now: Int64) async throws -> Bool {
        try await database.sql.raw(
            """
            UPDATE telegram_bots SET lease_holder = \(bind: holder), lease_expires_at = \(bind: now + leaseMillis)
            WHERE id = \(bind: id) AND running = 1
              AND (lease_holder IS NULL OR lease_holder = \(bind: holder) OR lease_expires_at < \(bind: now))
            RETURNING id
            """
        ).first() != nil
    }

    /// Lets the bot go at once (a stop, a shutdown), so another process can take it without
    /// waiting for the lease to expire.
    package func release(id: String, holder: String) async throws {
        try await database.sql.raw(
            "UPDATE telegram_bots SET lease_holder = NULL, lease_expires_at = NULL WHERE id = \(bind: id) AND lease_holder = \(bind: holder)"
        ).run()
    }

    static func encode(_ ids: [Int64]) throws -> String {
        String(decoding: try JSONEncoder().encode(ids), as: UTF8.self)
    }
}

struct BotRow: Decodable {
    var id: String
    var owner_id: String
    var name: String
    var kind: String
    var mode: String
    var sealed_token: String
    var token_fingerprint: String
    var webhook_secret: String
    var username: String?
    var telegram_id: Int64?
    var admin_ids: String
    var running: Int
    var lease_holder: String?
    var lease_expires_at: Int64?
    var last_error: String?
    var created_at: Int64
    var updated_at: Int64
    var persona: String?

    func record() throws -> BotRecord {
        guard let kind = BotKind(rawValue: kind), let mode = BotMode(rawValue: mode) else {
            throw AppError.unavailable("bot \(id) has a kind or mode this version does not know; upgrade Atelier")
        }
        var record = BotRecord(
            ownerID: owner_id,
            name: name,
            kind: kind,
            mode: mode,
            sealedToken: sealed_token,
            tokenFingerprint: token_fingerprint,
            adminIDs: (try? JSONDecoder().decode([Int64].self, from: Data(admin_ids.utf8))) ?? [],
            now: created_at
        )
        record.id = id
        record.webhookSecret = webhook_secret
        record.username = username
        record.telegramID = telegram_id
        record.running = running != 0
        record.leaseHolder = lease_holder
        record.leaseExpiresAt = lease_expires_at
        record.lastError = last_error
        record.updatedAt = updated_at
        record.persona = persona
        return record
    }
}
