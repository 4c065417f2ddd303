import Billing
import Core
import Foundation
import SQLKit
import Storage
import Telegram

/// Seed 002's `User` and `ReferralInvite` tables: registration with a referral deep link, the
/// admin's block, and the token figures mirrored from the ledger.
package struct StudioUsers: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = """
        user_id, username, first_name, last_name, activation_date, tokens_left, tokens_spent, language_code, referral_code,
        referred_by, is_blocked, bot_blocked, style, pending_action, last_active_at
        """

    package func find(_ id: Int64) async throws -> StudioUser? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM \"User\" WHERE user_id = \(bind: id)").first(decoding: StudioUser.self)
    }

    /// Registers a person on first contact (or refreshes their names), and links them to the
    /// person whose referral code they came with: once, never to themselves. Returns the row and
    /// whether it is new.
    package func register(_ from: User, referralCode: String?, now: Int64) async throws -> (user: StudioUser, created: Bool) {
        try await database.transaction { db in
            let inserted = try await db.raw(
                """
                INSERT INTO "User" (user_id, username, first_name, last_name, activation_date, tokens_left, tokens_spent, language_code,
                    referral_code, is_blocked, bot_blocked, last_active_at)
                VALUES (\(bind: from.id), \(bind: Self.cut(from.username)), \(bind: Self.cut(from.first_name)), \(bind: Self.cut(from.last_name)),
                    \(bind: now), 0, 0, \(bind: from.language_code), \(bind: RandomToken.base62(10)), 0, 0, \(bind: now))
                ON CONFLICT (user_id) DO NOTHING RETURNING user_id
                """
            ).all()
            let created = !inserted.isEmpty
            if !created {
                try await db.raw(
                    """
                    UPDATE "User" SET username = \(bind: Self.cut(from.username)), first_name = \(bind: Self.cut(from.first_name)),
                        last_name = \(bind: Self.cut(from.last_name)), language_code = \(bind: from.language_code), bot_blocked = 0,
                        last_active_at = \(bind: now)
                    WHERE user_id = \(bind: from.id)
                    """
                ).run()
            } else if let referralCode, !referralCode.isEmpty,
                let referrer = try await db.raw("SELECT user_id FROM \"User\" WHERE referral_code = \(bind: referralCode)").first()?
                    .decode(column: "user_id", as: Int64.self),
                referrer != from.id
            {
                try await db.raw("UPDATE \"User\" SET referred_by = \(bind: referrer) WHERE user_id = \(bind: from.id)").run()
                try await db.raw(
                    """
                    INSERT INTO "ReferralInvite" (referrer_id, referred_id, created_at, bonus_tokens)
                    VALUES (\(bind: referrer), \(bind: from.id), \(bind: now), 0) ON CONFLICT (referred_id) DO NOTHING
                    """
                ).run()
            }
            guard
                let user = try await db.raw("SELECT \(unsafeRaw: Self.columns) FROM \"User\" WHERE user_id = \(bind: from.id)")
                    .first(decoding: StudioUser.self)
            else { throw AppError.unavailable("a registered person cannot be read back") }
            return (user, created)
        }
    }

    /// Seed 002's columns are VARCHAR(100); Telegram's names fit, but nothing longer is stored.
    static func cut(_ text: String?) -> String? { text.map { String($0.prefix(100)) } }

    package func touch(_ id: Int64, now: Int64) async throws {
        try await database.sql.raw("UPDATE \"User\" SET last_active_at = \(bind: now) WHERE user_id = \(bind: id)").run()
    }

    package func setBlocked(_ id: Int64, _ blocked: Bool) async throws -> Bool {
        try await !database.sql.raw(
            "UPDATE \"User\" SET is_blocked = \(bind: blocked ? 1 : 0) WHERE user_id = \(bind: id) RETURNING user_id"
        ).all().isEmpty
    }

    /// Telegram said the person blocked the bot: broadcasts skip them until they write again.
    package func setBotBlocked(_ id: Int64) async throws {
        try await database.sql.raw("UPDATE \"User\" SET bot_blocked = 1 WHERE user_id = \(bind: id)").run()
    }

    package func setStyle(_ id: Int64, _ style: String?) async throws {
        try await database.sql.raw("UPDATE \"User\" SET style = \(bind: style) WHERE user_id = \(bind: id)").run()
    }

    package func setPendingAction(_ id: Int64, _ action: String?) async throws {
        try await database.sql.raw("UPDATE \"User\" SET pending_action = \(bind: action) WHERE user_id = \(bind: id)").run()
    }

    /// Keeps `tokens_left` and `tokens_spent` equal to the ledger's figures, inside the ledger's
    /// transaction (the `TokenLedger.Mirror` of studio accounts).
    package static func mirror(account: String, balance: TokenLedger.Balance, db: any SQLDatabase) async throws {
        guard account.hasPrefix("tg:"), let id = Int64(account.dropFirst(3)) else { return }
        try await db.raw(
            """
            UPDATE "User" SET tokens_left = \(bind: balance.available), tokens_spent = \(bind: balance.spent) WHERE user_id = \(bind: id)
            """
        ).run()
    }

    package struct ReferralFigures: Sendable, Equatable {
        package var invited: Int
        package var paying: Int
        package var bonusTokens: Int64
    }

    package func referralFigures(_ id: Int64) async throws -> ReferralFigures {
        let row = try await database.sql.raw(
            """
            SELECT COUNT(*) AS invited, COALESCE(SUM(bonus_tokens), 0) AS bonus,
                COALESCE(SUM(CASE WHEN bonus_tokens > 0 THEN 1 ELSE 0 END), 0) AS paying
            FROM "ReferralInvite" WHERE referrer_id = \(bind: id)
            """
        ).first()
        return ReferralFigures(
            invited: try row?.decode(column: "invited", as: Int.self) ?? 0,
            paying: try row?.decode(column: "paying", as: Int.self) ?? 0,
            bonusTokens: try row?.decode(column: "bonus", as: Int64.self) ?? 0
        )
    }

    package func addReferralBonus(referrer: Int64, referred: Int64, tokens: Int64) async throws {
        try await database.sql.raw(
            """
            UPDATE "ReferralInvite" SET bonus_tokens = bonus_tokens + \(bind: tokens)
            WHERE referrer_id = \(bind: referrer) AND referred_id = \(bind: referred)
            """
        ).run()
    }

    /// People who have not blocked the bot, for a broadcast.
    package func reachable() async throws -> [Int64] {
        try await database.sql.raw("SELECT user_id FROM \"User\" WHERE bot_blocked = 0 AND is_blocked = 0 ORDER BY user_id").all()
            .map { try $0.decode(column: "user_id", as: Int64.self) }
    }

    /// Up to `limit` people whose names or id match `query`, newest first (admin search).
    package func search(_ query: String, limit: Int = 10) async throws -> [StudioUser] {
        if let id = Int64(query), let user = try await find(id) { return [user] }
        let pattern = "%\(query.lowercased().replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "_", with: ""))%"
        return try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM "User"
            WHERE LOWER(COALESCE(username, '')) LIKE \(bind: pattern) OR LOWER(COALESCE(first_name, '')) LIKE \(bind: pattern)
                OR LOWER(COALESCE(last_name, '')) LIKE \(bind: pattern)
            ORDER BY activation_date DESC LIMIT \(unsafeRaw: String(max(1, min(limit, 50))))
            """
        ).all(decoding: StudioUser.self)
    }
}
