import Core
import Foundation
import HTTPTypes
import SQLKit
import Storage

/// Token balances as an append-only ledger (seed 002's `tokens_left` and `tokens_spent`).
/// Credits that come from outside (a payment, a referral bonus) carry the external event's key,
/// which is unique, so a replayed webhook or update credits once. A generation reserves its
/// tokens when it is queued, then captures them when it succeeds or refunds them when it fails
/// or is cancelled; each step once, keyed by the job.
package struct TokenLedger: Sendable {
    package struct Balance: Sendable, Equatable {
        /// What can be spent now (seed 002's `tokens_left`).
        package var available: Int64
        /// Held by generations in flight.
        package var reserved: Int64
        /// Captured by finished generations (seed 002's `tokens_spent`).
        package var spent: Int64

        package init(available: Int64, reserved: Int64, spent: Int64) {
            self.available = available
            self.reserved = reserved
            self.spent = spent
        }

        package static let zero = Balance(available: 0, reserved: 0, spent: 0)
    }

    package enum Outcome: Sendable, Equatable {
        case done(Balance)
        /// The external key was seen before: nothing changed.
        case duplicate(Balance)
    }

    /// Runs inside every transaction that changed a balance, with the new balance: a product
    /// keeps its own copy of the figures (seed 002's `User.tokens_left`) exactly in step.
    package typealias Mirror = @Sendable (_ account: String, _ balance: Balance, _ db: any SQLDatabase) async throws -> Void

    let database: Database
    let mirror: Mirror?

    package init(database: Database, mirror: Mirror? = nil) {
        self.database = database
        self.mirror = mirror
    }

    package func balance(_ account: String) async throws -> Balance {
        try await Self.balance(account, on: database.sql)
    }

    /// Adds tokens (welcome gift, purchase, referral bonus, an admin's grant). With `externalKey`
    /// (`stars:<charge id>`, `yoomoney:<operation id>`) a second credit for the same event does
    /// nothing and says so.
    package func credit(_ account: String, tokens: Int64, kind: String, reason: String, externalKey: String?) async throws -> Outcome {
        guard tokens > 0 else { throw AppError.validation(field: "tokens", "must be positive") }
        return try await database.transaction { db in
            guard try await Self.append(account, kind: kind, delta: tokens, reason: reason, key: externalKey, on: db) else {
                return .duplicate(try await Self.balance(account, on: db))
            }
            try await Self.ensureRow(account, on: db)
            try await db.raw(
                "UPDATE token_balances SET balance = balance + \(bind: tokens), updated_at = \(bind: Self.now()) WHERE account_id = \(bind: account)"
            ).run()
            return .done(try await changed(account, on: db))
        }
    }

    /// Holds `tokens` for `job` if the balance has them: one conditional UPDATE, so concurrent
    /// reservations can never take the balance below zero. Throws 402 when it is short.
    package func reserve(_ account: String, tokens: Int64, job: String, reason: String) async throws -> Outcome {
        guard tokens > 0 else { throw AppError.validation(field: "tokens", "must be positive") }
        return try await database.transaction { db in
            // The unique key first: a second reservation of the job stops here, also when both
            // run at once (PostgreSQL makes the second insert wait for the first's commit).
            guard try await Self.append(account, kind: "reserve", delta: -tokens, reason: reason, key: "reserve:\(job)", on: db) else {
                return .duplicate(try await Self.balance(account, on: db))
            }
            let taken = try await db.raw(
                """
                UPDATE token_balances SET balance = balance - \(bind: tokens), reserved = reserved + \(bind: tokens),
                    updated_at = \(bind: Self.now())
                WHERE account_id = \(bind: account) AND balance >= \(bind: tokens) RETURNING balance
                """
            ).all()
            guard !taken.isEmpty else {
                let balance = try await Self.balance(account, on: db)
                // Thrown, so the transaction rolls back and the reservation row goes with it.
                throw AppError(
                    HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"),
                    "not enough tokens: this needs \(tokens) and \(balance.available) are left; buy more with /buy",
                    code: "insufficient_tokens"
                )
            }
            return .done(try await changed(account, on: db))
        }
    }

    /// The job succeeded: its reservation becomes spent. Once; after a refund it does nothing.
    package func capture(_ account: String, job: String) async throws -> Outcome {
        try await settle(account, job: job, as: "capture")
    }

    /// The job failed or was cancelled: its reservation goes back to the balance. Once; after a
    /// capture it does nothing.
    package func refund(_ account: String, job: String) async throws -> Outcome {
        try await settle(account, job: job, as: "refund")
    }

    func settle(_ account: String, job: String, as kind: String) async throws -> Outcome {
        try await database.transaction { db in
            let reservation = try await db.raw(
                "SELECT delta FROM token_ledger WHERE external_key = \(bind: "reserve:\(job)") AND account_id = \(bind: account)"
            ).first()
            guard let reservation else { return .duplicate(try await Self.balance(account, on: db)) }
            let tokens = -(try reservation.decode(column: "delta", as: Int64.self))
            // One key for capture and refund: whichever comes first settles the job, once. A
            // capture moves tokens from reserved to spent, so its ledger delta (the balance) is 0.
            let delta = kind == "capture" ? 0 : tokens
            guard try await Self.append(account, kind: kind, delta: delta, reason: "job \(job)", key: "settle:\(job)", on: db) else {
                return .duplicate(try await Self.balance(account, on: db))
            }
            let change: SQLQueryString =
                kind == "capture"
                ? "reserved = reserved - \(bind: tokens), spent = spent + \(bind: tokens)"
                : "reserved = reserved - \(bind: tokens), balance = balance + \(bind: tokens)"
            try await db.raw("UPDATE token_balances SET " + change + ", updated_at = \(bind: Self.now()) WHERE account_id = \(bind: account)")
                .run()
            return .done(try await changed(account, on: db))
        }
    }

    /// Takes back up to `tokens` (a refunded payment), once per `externalKey`: what is left when
    /// some were spent already, never below zero. The outcome's balance says what remains.
    package func debit(_ account: String, tokens: Int64, kind: String, reason: String, externalKey: String) async throws -> Outcome {
        guard tokens > 0 else { throw AppError.validation(field: "tokens", "must be positive") }
        let locking = database.kind == .postgres
        return try await database.transaction { db in
            // What can be taken is read and written in one step: on PostgreSQL the row is locked
            // first, so two debits at once cannot both take the same tokens (the second would
            // break `CHECK (balance >= 0)` and fail); SQLite's single writer serialises them.
            let available = try await Self.balance(account, on: db, locking: locking).available
            let take = min(tokens, available)
            guard try await Self.append(account, kind: kind, delta: -take, reason: reason, key: externalKey, on: db) else {
                return .duplicate(try await Self.balance(account, on: db))
            }
            if take > 0 {
                try await db.raw(
                    """
                    UPDATE token_balances SET balance = balance - \(bind: take), updated_at = \(bind: Self.now())
                    WHERE account_id = \(bind: account)
                    """
                ).run()
            }
            return .done(try await changed(account, on: db))
        }
    }

    /// The new balance, passed to the mirror in the same transaction.
    func changed(_ account: String, on db: any SQLDatabase) async throws -> Balance {
        let balance = try await Self.balance(account, on: db)
        try await mirror?(account, balance, db)
        return balance
    }

    /// The account's entries, newest first.
    package func entries(_ account: String, limit: Int = 50) async throws -> [(kind: String, delta: Int64, reason: String, createdAt: Int64)] {
        try await database.sql.raw(
            """
            SELECT kind, delta, reason, created_at FROM token_ledger WHERE account_id = \(bind: account)
            ORDER BY created_at DESC, id DESC LIMIT \(unsafeRaw: String(max(1, min(limit, 500))))
            """
        ).all().map {
            (
                try $0.decode(column: "kind", as: String.self), try $0.decode(column: "delta", as: Int64.self),
                try $0.decode(column: "reason", as: String.self), try $0.decode(column: "created_at", as: Int64.self)
            )
        }
    }

    /// Inserts a ledger row; false when its external key is already there.
    static func append(_ account: String, kind: String, delta: Int64, reason: String, key: String?, on db: any SQLDatabase) async throws -> Bool {
        let rows = try await db.raw(
            """
            INSERT INTO token_ledger (id, account_id, kind, delta, reason, external_key, created_at)
            VALUES (\(bind: ID.make("tx")), \(bind: account), \(bind: kind), \(bind: delta), \(bind: reason), \(bind: key), \(bind: now()))
            ON CONFLICT (external_key) DO NOTHING RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    static func ensureRow(_ account: String, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO token_balances (account_id, balance, reserved, spent, updated_at)
            VALUES (\(bind: account), 0, 0, 0, \(bind: now())) ON CONFLICT (account_id) DO NOTHING
            """
        ).run()
    }

    /// `locking` (PostgreSQL, in a transaction): the row stays locked until it ends.
    static func balance(_ account: String, on db: any SQLDatabase, locking: Bool = false) async throws -> Balance {
        guard
            let row = try await db.raw(
                "SELECT balance, reserved, spent FROM token_balances WHERE account_id = \(bind: account)\(unsafeRaw: locking ? " FOR UPDATE" : "")"
            ).first()
        else { return .zero }
        return Balance(
            available: try row.decode(column: "balance", as: Int64.self),
            reserved: try row.decode(column: "reserved", as: Int64.self),
            spent: try row.decode(column: "spent", as: Int64.self)
        )
    }

    static func now() -> Int64 { Timestamp.millis(Date()) }
}
