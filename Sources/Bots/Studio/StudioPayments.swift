import Billing
import Core
import Foundation
import SQLKit
import Storage

/// A token package an admin sells (`studio_packages`).
package struct StudioPackage: Sendable, Equatable, Codable {
    package var id: String
    package var title: String
    package var tokens: Int64
    package var price_stars: Int64
    package var price_kopecks: Int64
    package var active: Int
    package var position: Int
}

/// Money in, tokens out: packages, YooMoney orders, seed 002's `Payment` rows, and the ledger
/// credit with the referrer's bonus. Every step is keyed by the payment's own id (Telegram's
/// charge id, YooMoney's operation id), so a replayed update or notification, or one that comes
/// again after a crash half-way, completes what is missing and credits nothing twice.
package struct StudioPayments: Sendable {
    let database: Database
    let ledger: TokenLedger
    let users: StudioUsers
    /// Per cent of each purchase's tokens given to the person who invited the buyer.
    let referralPercent: Int

    package init(database: Database, ledger: TokenLedger, users: StudioUsers, referralPercent: Int) {
        self.database = database
        self.ledger = ledger
        self.users = users
        self.referralPercent = referralPercent
    }

    package func packages(activeOnly: Bool = true) async throws -> [StudioPackage] {
        try await database.sql.raw(
            """
            SELECT id, title, tokens, price_stars, price_kopecks, active, position FROM studio_packages
            \(unsafeRaw: activeOnly ? "WHERE active = 1" : "") ORDER BY position, id
            """
        ).all(decoding: StudioPackage.self)
    }

    package func findPackage(_ id: String) async throws -> StudioPackage? {
        try await database.sql.raw(
            "SELECT id, title, tokens, price_stars, price_kopecks, active, position FROM studio_packages WHERE id = \(bind: id)"
        ).first(decoding: StudioPackage.self)
    }

    package func save(_ package: StudioPackage) async throws {
        try await database.sql.raw(
            """
            INSERT INTO studio_packages (id, title, tokens, price_stars, price_kopecks, active, position)
            VALUES (\(bind: package.id), \(bind: package.title), \(bind: package.tokens), \(bind: package.price_stars),
                \(bind: package.price_kopecks), \(bind: package.active), \(bind: package.position))
            ON CONFLICT (id) DO UPDATE SET title = excluded.title, tokens = excluded.tokens, price_stars = excluded.price_stars,
                price_kopecks = excluded.price_kopecks, active = excluded.active, position = excluded.position
            """
        ).run()
    }

    package func deletePackage(_ id: String) async throws -> Bool {
        try await !database.sql.raw("DELETE FROM studio_packages WHERE id = \(bind: id) RETURNING id").all().isEmpty
    }

    /// A YooMoney order: its id is the payment link's `label`.
    package struct Order: Sendable, Equatable, Codable {
        package var id: String
        package var user_id: Int64
        package var package_id: String
        package var amount_kopecks: Int64
        package var tokens: Int64
        package var bot_id: String
        package var status: String
    }

    package func createOrder(user: Int64, package: StudioPackage, bot: String, now: Int64) async throws -> Order {
        let order = Order(
            id: ID.make("ord"),
            user_id: user,
            package_id: package.id,
            amount_kopecks: package.price_kopecks,
            tokens: package.tokens,
            bot_id: bot,
            status: "open"
        )
        try await database.sql.raw(
            """
            INSERT INTO studio_orders (id, user_id, package_id, amount_kopecks, tokens, bot_id, status, created_at)
            VALUES (\(bind: order.id), \(bind: user), \(bind: package.id), \(bind: order.amount_kopecks), \(bind: order.tokens), \(bind: bot),
                'open', \(bind: now))
            """
        ).run()
        return order
    }

    package func order(_ id: String) async throws -> Order? {
        try await database.sql.raw(
            "SELECT id, user_id, package_id, amount_kopecks, tokens, bot_id, status FROM studio_orders WHERE id = \(bind: id)"
        ).first(decoding: Order.self)
    }

    package enum Credited: Sendable, Equatable {
        case credited(balance: Int64, referrer: Int64?, bonus: Int64)
        case duplicate
    }

    /// Records a payment and credits its tokens once per `externalID` within `provider`
    /// (`stars`, `yoomoney`). `amount` is in the currency's smallest unit (kopecks; whole stars).
    package func credit(
        user: Int64,
        tokens: Int64,
        amount: Int64,
        currency: String,
        provider: String,
        externalID: String,
        packageID: String?,
        now: Int64
    ) async throws -> Credited {
        let key = "\(provider):\(externalID)"
        let outcome = try await ledger.credit(
            StudioUser.account(user),
            tokens: tokens,
            kind: "purchase",
            reason: "\(provider) payment \(externalID)",
            externalKey: key
        )
        // The Payment row and the bonus have keys of their own: after a crash between the steps,
        // the replay that finds the credit done still completes them.
        try await database.sql.raw(
            """
            INSERT INTO "Payment" (user_id, date, amount, tokens, currency, provider, external_id, package_id, status)
            VALUES (\(bind: user), \(bind: now), \(bind: amount), \(bind: tokens), \(bind: currency), \(bind: provider), \(bind: key),
                \(bind: packageID), 'paid')
            ON CONFLICT (external_id) DO NOTHING
            """
        ).run()
        var referrer: Int64?
        var bonus: Int64 = 0
        if referralPercent > 0, let inviter = try await users.find(user)?.referred_by {
            bonus = tokens * Int64(referralPercent) / 100
            if bonus > 0 {
                let given = try await ledger.credit(
                    StudioUser.account(inviter),
                    tokens: bonus,
                    kind: "referral",
                    reason: "\(referralPercent)% of a purchase by \(user)",
                    externalKey: "referral:\(key)"
                )
                if case .done = given {
                    try await users.addReferralBonus(referrer: inviter, referred: user, tokens: bonus)
                    referrer = inviter
                }
            }
        }
        switch outcome {
        case .duplicate: return .duplicate
        case .done(let balance): return .credited(balance: balance.available, referrer: referrer, bonus: bonus)
        }
    }

    /// A refunded payment takes its tokens back (what is left of them) and is marked refunded;
    /// once. Returns the tokens taken, nil when it was refunded before or is unknown.
    package func refund(provider: String, externalID: String) async throws -> (user: Int64, taken: Int64)? {
        let key = "\(provider):\(externalID)"
        guard
            let row = try await database.sql.raw("SELECT user_id, tokens FROM \"Payment\" WHERE external_id = \(bind: key)").first()
        else { return nil }
        let user = try row.decode(column: "user_id", as: Int64.self)
        let tokens = try row.decode(column: "tokens", as: Int64.self)
        let before = try await ledger.balance(StudioUser.account(user)).available
        let outcome = try await ledger.debit(
            StudioUser.account(user),
            tokens: tokens,
            kind: "refund",
            reason: "\(provider) refund \(externalID)",
            externalKey: "refund:\(key)"
        )
        try await database.sql.raw("UPDATE \"Payment\" SET status = 'refunded' WHERE external_id = \(bind: key)").run()
        // Checked on a replay too, so a crash between the two debits still takes the bonus back.
        try await takeBackReferralBonus(of: user, paymentKey: key)
        guard case .done(let balance) = outcome else { return nil }
        return (user, before - balance.available)
    }

    /// The referrer's bonus was a share of a payment that is now refunded: it goes back too (what
    /// is left of it), once, and the invite's figures say so.
    func takeBackReferralBonus(of user: Int64, paymentKey key: String) async throws {
        guard let inviter = try await users.find(user)?.referred_by,
            let row = try await database.sql.raw(
                "SELECT delta FROM token_ledger WHERE external_key = \(bind: "referral:\(key)")"
            ).first()
        else { return }
        let bonus = try row.decode(column: "delta", as: Int64.self)
        guard bonus > 0 else { return }
        let outcome = try await ledger.debit(
            StudioUser.account(inviter),
            tokens: bonus,
            kind: "referral_refund",
            reason: "the referral bonus of refunded payment \(key)",
            externalKey: "refund:referral:\(key)"
        )
        if case .done = outcome { try await users.addReferralBonus(referrer: inviter, referred: user, tokens: -bonus) }
    }

    package struct PaymentRow: Sendable, Equatable, Codable {
        package var payment_id: Int64
        package var user_id: Int64?
        package var date: Int64
        package var amount: Int64
        package var tokens: Int64
        package var currency: String
        package var provider: String
        package var external_id: String
        package var status: String
    }

    package func recent(limit: Int = 10) async throws -> [PaymentRow] {
        try await database.sql.raw(
            """
            SELECT payment_id, user_id, date, amount, tokens, currency, provider, external_id, status FROM "Payment"
            ORDER BY payment_id DESC LIMIT \(unsafeRaw: String(max(1, min(limit, 100))))
            """
        ).all(decoding: PaymentRow.self)
    }
}
